/*
 * A stand-in for other code in the server that writes request vectors after lifesign is
 * loaded, built and preloaded into Xvfb by tests/tests/vector_writers.rs.
 *
 * TESTWRAP_MODE=procvector: wraps ProcVector[X_GetGeometry], as extensions and drivers do.
 * TESTWRAP_MODE=client: the same, and its wrapper writes the calling client's
 * requestVector[X_GetGeometry] as the modesetting driver writes X_ChangeProperty
 * (hw/xfree86/drivers/modesetting/driver.c, ms_change_property).
 *
 * The wrap goes in when the first client is running, after every extension's init, so
 * after lifesign's. Every call is counted on stderr: "testwrap: GetGeometry N".
 */
#include <xorg-server.h>
#include <X11/X.h>
#include <X11/Xproto.h>
#include <misc.h>
#include <os.h>
#include <dix.h>
#include <dixstruct.h>
#include <callback.h>
#include <extension.h>
#include <extnsionst.h>
#include <stdlib.h>
#include <string.h>

static int (*saved)(ClientPtr);
static int calls;
static int per_client;
static int wrapped;

static int
wrapper(ClientPtr client)
{
    int ret;

    calls++;
    ErrorF("testwrap: GetGeometry %d\n", calls);
    if (!per_client)
        return saved(client);
    client->requestVector[X_GetGeometry] = saved;
    ret = saved(client);
    client->requestVector[X_GetGeometry] = wrapper;
    return ret;
}

static void
client_state(CallbackListPtr *list, void *data, void *call_data)
{
    NewClientInfoRec *info = call_data;

    if (wrapped || info->client->clientState != ClientStateRunning ||
        ProcVector[X_GetGeometry] == wrapper)
        return;
    wrapped = 1;
    saved = ProcVector[X_GetGeometry];
    ProcVector[X_GetGeometry] = wrapper;
    ErrorF("testwrap: wrapped GetGeometry (%s)\n", per_client ? "client" : "procvector");
}

static void
testwrap_init(void)
{
    const char *mode = getenv("TESTWRAP_MODE");

    per_client = mode && strcmp(mode, "client") == 0;
    wrapped = 0;
    AddCallback(&ClientStateCallback, client_state, NULL);
}

static ExtensionModule testwrap_ext[] = {
    { testwrap_init, "TESTWRAP", NULL },
};

/* Takes itself out of LD_PRELOAD (and nothing else), so the server's children (xkbcomp)
 * do not load it. */
static void
unpreload(void)
{
    const char *value = getenv("LD_PRELOAD");
    char *copy, *entry, *rest;
    size_t len;

    if (!value)
        return;
    len = strlen(value) + 1;
    copy = strdup(value);
    rest = calloc(len, 1);
    if (!copy || !rest)
        return;
    for (entry = strtok(copy, ": "); entry; entry = strtok(NULL, ": ")) {
        if (strstr(entry, "libtestwrap"))
            continue;
        if (*rest)
            strcat(rest, ":");
        strcat(rest, entry);
    }
    setenv("LD_PRELOAD", rest, 1);
    free(copy);
    free(rest);
}

__attribute__((constructor)) static void
testwrap_load(void)
{
    unpreload();
    LoadExtensionList(testwrap_ext, 1, 0);
}
