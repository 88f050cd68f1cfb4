#!/usr/bin/env python3
"""A lifesign heartbeat from a Python application (python-xlib): a NoOperation request at an
interval, flushed. In a real application the two calls go into its timer or main loop.

    python3 heartbeat.py [interval-ms]        (DISPLAY from the environment)
"""
import sys
import time

from Xlib import display


def main():
    interval = (int(sys.argv[1]) if len(sys.argv) > 1 else 1000) / 1000
    d = display.Display()
    while True:
        d.no_operation()
        d.flush()
        time.sleep(interval)


if __name__ == "__main__":
    main()
