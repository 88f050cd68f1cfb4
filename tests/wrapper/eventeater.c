/*
 * A test extension that takes every extension event code the server has left, so that an
 * extension added after it gets none (tests/tests/events.rs). Preloaded into Xvfb before
 * lifesign, with LoadExtensionList as lifesign's own preload mode does.
 */
#include <xorg-server.h>
#include <X11/X.h>
#include <X11/Xproto.h>
#include <misc.h>
#include <os.h>
#include <dix.h>
#include <dixstruct.h>
#include <extension.h>
#include <extnsionst.h>

#pragma weak AddExtension
#pragma weak LoadExtensionList
#pragma weak ErrorF

static int proc(ClientPtr client) { return BadRequest; }
static unsigned short minor(ClientPtr client) { return 0; }

/* The most events that fit: the server refuses an extension whose events do not. */
static void init(void)
{
    for (int events = 128; events > 0; events--) {
        ExtensionEntry *e = AddExtension("EVENTEATER", events, 0, proc, proc, NULL, minor);
        if (e) {
            ErrorF("eventeater: took %d event codes from %d\n", events, e->eventBase);
            return;
        }
    }
    ErrorF("eventeater: no event code left to take\n");
}

static const ExtensionModule modules[] = { { init, "EVENTEATER", NULL } };

__attribute__((constructor)) static void load(void)
{
    if (LoadExtensionList)
        LoadExtensionList(modules, 1, FALSE);
}
