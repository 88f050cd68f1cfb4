/* A lifesign heartbeat from an XCB application: xcb_no_operation at an interval, flushed.
 *                  cc -o heartbeat-xcb heartbeat-xcb.c -lxcb
 *                  ./heartbeat-xcb [interval-ms]           (DISPLAY from the environment) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <xcb/xcb.h>

int main(int argc, char **argv)
{
    long interval_ms = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
    struct timespec pause = { interval_ms / 1000, (interval_ms % 1000) * 1000000L };
    xcb_connection_t *c = xcb_connect(NULL, NULL);
    if (xcb_connection_has_error(c)) {
        fprintf(stderr, "heartbeat-xcb: cannot open display\n");
        return 1;
    }
    for (;;) {
        xcb_no_operation(c);
        if (xcb_flush(c) <= 0 || xcb_connection_has_error(c)) {
            fprintf(stderr, "heartbeat-xcb: lost the X server\n");
            return 2;
        }
        nanosleep(&pause, NULL);
    }
}
