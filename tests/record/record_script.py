#!/usr/bin/python3
"""A RECORD client, as input recorders and automation tools are: contexts on another client's
core requests, created, enabled, disabled and freed in the order ORDER names, with requests of
that client in between. Prints one line: the requests each context recorded from the target,
then the target's round trips, as JSON. Run with DISPLAY set; the same script on a stock
server and on one with lifesign must print the same line.
"""
import json
import sys
import threading

from Xlib import X, display
from Xlib.ext import record

ROUNDS = 5  # requests of the target between two steps


class Context:
    def __init__(self, name, client_base):
        self.name = name
        self.control = display.Display()
        self.data = display.Display()
        self.count = 0
        self.ctx = self.control.record_create_context(
            0,
            [client_base],
            [{
                'core_requests': (1, 127),
                'core_replies': (0, 0),
                'ext_requests': (0, 0, 0, 0),
                'ext_replies': (0, 0, 0, 0),
                'delivered_events': (0, 0),
                'device_events': (0, 0),
                'errors': (0, 0),
                'client_started': False,
                'client_died': False,
            }])
        self.control.sync()
        self.thread = None
        self.started = threading.Event()

    def _callback(self, reply):
        if reply.category == record.StartOfData:
            self.started.set()
        elif reply.category == record.FromClient:
            # One element per recorded request; count the requests in the data.
            data = reply.data
            while len(data) >= 4:
                length = int.from_bytes(data[2:4], sys.byteorder) * 4
                if length == 0:
                    break
                self.count += 1
                data = data[length:]

    def enable(self):
        self.started.clear()
        self.thread = threading.Thread(
            target=self.data.record_enable_context, args=(self.ctx, self._callback))
        self.thread.start()
        # The server sends StartOfData once the context is enabled.
        if not self.started.wait(10):
            raise SystemExit(f"context {self.name} not enabled")

    def disable(self):
        self.control.record_disable_context(self.ctx)
        self.control.sync()
        self.thread.join(10)
        if self.thread.is_alive():
            raise SystemExit(f"context {self.name} did not end")

    def free(self):
        self.control.record_free_context(self.ctx)
        self.control.sync()


def main():
    order = sys.argv[1].split(',')
    target = display.Display()
    base = target.display.info.resource_id_base
    root = target.screen().root
    trips = 0

    def requests():
        nonlocal trips
        for _ in range(ROUNDS):
            root.get_geometry()
            trips += 1
        target.sync()

    contexts = {}
    requests()
    for step in order:
        verb, name = step[0], step[1:]
        if verb == 'c':
            contexts[name] = Context(name, base)
        elif verb == 'e':
            contexts[name].enable()
        elif verb == 'd':
            contexts[name].disable()
        elif verb == 'f':
            contexts[name].free()
        requests()
    for ctx in contexts.values():
        if ctx.thread is not None and ctx.thread.is_alive():
            ctx.disable()
    print(json.dumps({
        'recorded': {n: c.count for n, c in sorted(contexts.items())},
        'round_trips': trips,
    }))


if __name__ == '__main__':
    main()
