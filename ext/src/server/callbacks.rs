//! The server's callback lists the module is on: client states, server grabs, and XACE's
//! send-access hook. Callback lists are shared by design (the
//! server calls every callback on a list in turn), so being on them takes nothing from anyone.
//! The server drops every list at the end of a generation: they are joined anew in each.

use super::client::ClientView;
use super::guard;
use super::hooks::{Grab, module};
use lifesign_sys as sys;
use std::ffi::c_void;

type Callback = unsafe extern "C" fn(*mut sys::CallbackListPtr, *mut c_void, *mut c_void);

fn add(list: *mut sys::CallbackListPtr, callback: Callback) -> bool {
    // SAFETY: on the server thread, during extension init or between requests, when callbacks
    // may be added; `list` is one of the server's callback lists; the callback is a function of
    // the library and takes no data.
    unsafe { sys::AddCallback(list, Some(callback), std::ptr::null_mut()) != 0 }
}

/// XACE's list for `hook`.
fn xace_list(hook: std::ffi::c_int) -> *mut sys::CallbackListPtr {
    // SAFETY: XaceHooks has XACE_NUM_HOOKS entries; the hooks named here are among them.
    unsafe {
        (&raw mut sys::XaceHooks)
            .cast::<sys::CallbackListPtr>()
            .add(hook as usize)
    }
}

/// Joins the lists the module needs in every generation: client states, server grabs, and
/// XACE's send access and property access.
pub fn register() -> bool {
    add(&raw mut sys::ClientStateCallback, client_state)
        && add(&raw mut sys::ServerGrabCallback, grab)
        && add(xace_list(sys::LIFESIGN_XACE_SEND_ACCESS), send_access_hook)
        && add(
            xace_list(sys::LIFESIGN_XACE_PROPERTY_ACCESS),
            property_access_hook,
        )
}

unsafe extern "C" fn client_state(
    _list: *mut sys::CallbackListPtr,
    _data: *mut c_void,
    call_data: *mut c_void,
) {
    guard::entry(
        "the client-state callback",
        || (),
        || {
            // SAFETY: ClientStateCallback is called with a NewClientInfoRec (dix/dispatch.c,
            // os/connection.c) whose client is valid for the duration of the call.
            let info = unsafe { &*call_data.cast::<sys::NewClientInfoRec>() };
            if info.client.is_null() {
                return;
            }
            // SAFETY: non-null and valid for this call; the server holds no other Rust reference.
            let mut client = unsafe { ClientView::from_raw(info.client) };
            module().client_state(&mut client);
        },
    );
}

unsafe extern "C" fn grab(
    _list: *mut sys::CallbackListPtr,
    _data: *mut c_void,
    call_data: *mut c_void,
) {
    guard::entry(
        "the server-grab callback",
        || (),
        || {
            // SAFETY: ServerGrabCallback is called with a ServerGrabInfoRec (dix/grabs.c,
            // dix/dispatch.c) valid for the call.
            let info = unsafe { &*call_data.cast::<sys::ServerGrabInfoRec>() };
            let by = (!info.client.is_null()).then(|| {
                // SAFETY: the grabbing client, valid for the call.
                let index = unsafe { (*info.client).index };
                usize::try_from(index).ok()
            });
            match info.grabstate {
                sys::SERVER_GRABBED => module().grab(Grab::By(by.flatten())),
                sys::SERVER_UNGRABBED => module().grab(Grab::Released),
                _ => {}
            }
        },
    );
}

/// XACE's send-access hook: ProcSendEvent asks it before delivering a client's event to a
/// window, and drops the event silently if any callback refuses (dix/events.c). Input events
/// ask it too, with no client.
unsafe extern "C" fn send_access_hook(
    _list: *mut sys::CallbackListPtr,
    _data: *mut c_void,
    call_data: *mut c_void,
) {
    // SAFETY: XACE calls this hook with an XaceSendAccessRec valid for the call (Xext/xace.c).
    let rec = unsafe { &mut *call_data.cast::<sys::XaceSendAccessRec>() };
    if rec.client.is_null() || rec.count != 1 || rec.events.is_null() || rec.status != 0 {
        return;
    }
    let taken = guard::entry(
        "the send-access hook",
        || false,
        || {
            // SAFETY: `events` points at `count` (1) events of 32 bytes: ProcSendEvent's own,
            // in the server's byte order (SProcSendEvent swapped it), valid for the call.
            let event = unsafe { &*rec.events.cast::<[u8; 32]>() };
            // SAFETY: the client whose SendEvent is being dispatched; valid for the call.
            let mut sender = unsafe { ClientView::from_raw(rec.client) };
            module().sent_event(&mut sender, event)
        },
    );
    if taken {
        rec.status = sys::LIFESIGN_BAD_ACCESS;
    }
}

/// XACE's property-access hook: the server asks it before a property is read, written, added
/// to or made (dix/property.c). The module only notes that a client's WM_CLASS is being written
/// (the new value is stored after the hook), so that its `updated` event can follow once
/// the request is done; it never refuses anything. Reads, the module's own among them
/// (`windows::wm_class`), are let through here without calling up.
unsafe extern "C" fn property_access_hook(
    _list: *mut sys::CallbackListPtr,
    _data: *mut c_void,
    call_data: *mut c_void,
) {
    // SAFETY: XACE calls this hook with an XacePropertyAccessRec valid for the call
    // (Xext/xace.c).
    let rec = unsafe { &*call_data.cast::<sys::XacePropertyAccessRec>() };
    // ChangeProperty's Replace is a write, its Append and Prepend a blend (dixChangeWindowProperty).
    let writes = (sys::LIFESIGN_DIX_WRITE_ACCESS | sys::LIFESIGN_DIX_BLEND_ACCESS) as sys::Mask;
    if rec.access_mode & writes == 0 || rec.pWin.is_null() || rec.ppProp.is_null() {
        return;
    }
    // SAFETY: `ppProp` points at the property being written, made before the hook for a new
    // one (dixChangeWindowProperty); both valid for the call.
    let prop = unsafe { *rec.ppProp };
    // SAFETY: as above; a property's name is set before its first hook call.
    if prop.is_null() || unsafe { (*prop).propertyName } != sys::LIFESIGN_XA_WM_CLASS as sys::Atom {
        return;
    }
    // SAFETY: the window whose property it is, valid for the call.
    let id = unsafe { (*rec.pWin).drawable.id };
    let owner = super::windows::owner(id);
    guard::entry(
        "the property-access hook",
        || (),
        || module().class_written(owner),
    );
}
