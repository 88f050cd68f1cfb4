/*
 * What lifesign needs of the X.Org server SDK. xorg-server.h must come first: it holds the
 * configuration every other server header depends on.
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
#include <xf86Module.h>
#include <xf86Optionstr.h>
#include <X11/Xatom.h>
#include <dixaccess.h>
#include <resource.h>
#include <property.h>
#include <propertyst.h>
#include <windowstr.h>
#include <scrnintstr.h>
#include <opaque.h>
#include <xace.h>
#include <xacestr.h>

/*
 * Macros that bindgen cannot evaluate (function-like, or expanding to them), re-stated as
 * constants it can: bindgen emits these as Rust `pub const`.
 */
const unsigned int LIFESIGN_ABI_EXTENSION_VERSION = ABI_EXTENSION_VERSION;
const unsigned int LIFESIGN_XORG_VERSION_CURRENT = XORG_VERSION_CURRENT;
const unsigned int LIFESIGN_MODINFOSTRING1 = MODINFOSTRING1;
const unsigned int LIFESIGN_MODINFOSTRING2 = MODINFOSTRING2;
const int LIFESIGN_X_NO_OPERATION = X_NoOperation;
const int LIFESIGN_SUCCESS = Success;
const int LIFESIGN_BAD_REQUEST = BadRequest;
const int LIFESIGN_BAD_LENGTH = BadLength;
const int LIFESIGN_BAD_IMPLEMENTATION = BadImplementation;
const int LIFESIGN_BAD_ALLOC = BadAlloc;
const int LIFESIGN_BAD_VALUE = BadValue;
const int LIFESIGN_BAD_ACCESS = BadAccess;
const int LIFESIGN_BAD_MATCH = BadMatch;
const int LIFESIGN_X_SEND_EVENT = X_SendEvent;
const int LIFESIGN_X_KILL_CLIENT = X_KillClient;
const unsigned int LIFESIGN_XA_WM_CLASS = XA_WM_CLASS;
const RESTYPE LIFESIGN_RT_WINDOW = RT_WINDOW;
const unsigned int LIFESIGN_XA_STRING = XA_STRING;
const unsigned int LIFESIGN_XA_ATOM = XA_ATOM;
const unsigned int LIFESIGN_DIX_READ_ACCESS = DixReadAccess;
const int LIFESIGN_XACE_CLIENT_ACCESS = XACE_CLIENT_ACCESS;
const int LIFESIGN_XACE_SEND_ACCESS = XACE_SEND_ACCESS;
const int LIFESIGN_XACE_PROPERTY_ACCESS = XACE_PROPERTY_ACCESS;
const unsigned int LIFESIGN_DIX_WRITE_ACCESS = DixWriteAccess;
const unsigned int LIFESIGN_DIX_BLEND_ACCESS = DixBlendAccess;
const int LIFESIGN_CLIENT_MESSAGE = ClientMessage;
const int LIFESIGN_MAXCLIENTS = MAXCLIENTS;
