/* A lifesign heartbeat from an Xlib application: a NoOperation request at an interval,
 * flushed so that it leaves at once. With the server's ExpectNoOperation (or a client's own
 * expectation through the LIFESIGN extension), a client that stops sending it is lost.
 *
 * In a real application the two calls go into its timer or main loop; here they are the
 * whole program.   cc -o heartbeat-xlib heartbeat-xlib.c -lX11
 *                  ./heartbeat-xlib [interval-ms]          (DISPLAY from the environment) */
#include <X11/Xlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    long interval_ms = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
    struct timespec pause = { interval_ms / 1000, (interval_ms % 1000) * 1000000L };
    Display *dpy = XOpenDisplay(NULL);
    if (dpy == NULL) {
        fprintf(stderr, "heartbeat-xlib: cannot open display\n");
        return 1;
    }
    for (;;) {
        XNoOp(dpy);
        XFlush(dpy); /* Xlib exits the program through its I/O error handler if the server is gone */
        nanosleep(&pause, NULL);
    }
}
