//! A client's top-level windows: their WM_CLASS, whether they take `_NET_WM_PING`, and
//! sending them one.

use super::client::ClientView;
use lifesign_proto::ByteOrder;
use lifesign_proto::core::WmPing;
use lifesign_proto::event::ClientInfo;
use lifesign_sys as sys;
use std::ffi::CStr;

/// The atoms of this generation (atoms are reset with the server).
#[derive(Clone, Copy, Debug)]
pub struct Atoms {
    pub wm_protocols: u32,
    pub net_wm_ping: u32,
}

impl Atoms {
    pub fn intern() -> Option<Self> {
        let atom = |name: &CStr| {
            let len = name.to_bytes().len() as u32;
            // SAFETY: on the server thread after the atom table is set up (extension init);
            // the name is a NUL-terminated string of `len` bytes.
            let atom = unsafe { sys::MakeAtom(name.as_ptr(), len, 1) };
            (atom != 0).then_some(atom as u32)
        };
        Some(Self {
            wm_protocols: atom(c"WM_PROTOCOLS")?,
            net_wm_ping: atom(c"_NET_WM_PING")?,
        })
    }
}

/// The client index a resource ID belongs to (CLIENT_ID in resource.h).
fn owner(id: u32) -> usize {
    // SAFETY: a pure function of the server's client limit.
    let bits = unsafe { sys::ResourceClientBits() } as u32;
    let offset = 29 - bits;
    ((id >> offset) & ((1 << bits) - 1)) as usize
}

/// The top-level windows of client `index`: its windows that are children of a root, or
/// (under a reparenting window manager) children of a root's children. Found among the
/// client's own resources (the server's table of them, `FindClientResourcesByType`), so the
/// cost is the client's own windows, whatever other clients have made (a client with half a
/// million windows slows only the look at itself). First created first.
fn top_levels(index: usize) -> Vec<sys::WindowPtr> {
    let Some(client) = super::clients::record(index) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, sys::WindowPtr)> = Vec::new();
    // SAFETY: on the server thread between requests: the client's resource table and the
    // window tree are consistent and only read; `found` outlives the call, which passes it
    // back to `collect` only.
    unsafe {
        sys::FindClientResourcesByType(
            client,
            sys::LIFESIGN_RT_WINDOW,
            Some(collect),
            (&raw mut found).cast(),
        );
    }
    // Resource IDs grow with creation within a client: the first created comes first.
    found.sort_unstable_by_key(|&(id, _)| id);
    found.into_iter().map(|(_, w)| w).collect()
}

/// `FindClientResourcesByType`'s callback: keeps a window whose parent is a root, or a
/// root's child that another client made (a window manager's frame).
unsafe extern "C" fn collect(
    value: *mut std::ffi::c_void,
    id: sys::XID,
    data: *mut std::ffi::c_void,
) {
    let window = value.cast::<sys::WindowRec>();
    // SAFETY: the server passes a live window of the client (the type asked for) and the
    // `data` given to it, our Vec. Nothing here can unwind: a failed allocation aborts.
    unsafe {
        let parent = (*window).parent;
        if parent.is_null() {
            return; // a root
        }
        let grandparent = (*parent).parent;
        let top = grandparent.is_null()
            || ((*grandparent).parent.is_null() && owner((*parent).drawable.id) != owner(id));
        if top {
            (*data.cast::<Vec<(u32, sys::WindowPtr)>>()).push((id, window));
        }
    }
}

/// `f` of a property of `window`: its type, its format and its bytes, read where the server
/// keeps them (a client can set a property of megabytes: nothing is copied here).
fn with_property<R>(
    window: sys::WindowPtr,
    name: u32,
    f: impl FnOnce(u32, u8, &[u8]) -> Option<R>,
) -> Option<R> {
    let mut prop: sys::PropertyPtr = std::ptr::null_mut();
    // SAFETY: a live window of the tree; the lookup is done as the server itself
    // (serverClient), read access only.
    let rc = unsafe {
        sys::dixLookupProperty(
            &mut prop,
            window,
            name as sys::Atom,
            sys::serverClient,
            sys::LIFESIGN_DIX_READ_ACCESS as sys::Mask,
        )
    };
    if rc != sys::LIFESIGN_SUCCESS || prop.is_null() {
        return None;
    }
    // SAFETY: a property returned by the lookup; `size` counts units of `format` bits, and
    // its data stays as it is while `f` runs (on the server's thread, as every change).
    unsafe {
        let p = &*prop;
        let bytes = (p.size as usize).saturating_mul((p.format as usize) / 8);
        let data = if p.data.is_null() || bytes == 0 {
            &[][..]
        } else {
            std::slice::from_raw_parts(p.data.cast::<u8>(), bytes)
        };
        f(p.type_ as u32, p.format as u8, data)
    }
}

fn window_id(window: sys::WindowPtr) -> u32 {
    // SAFETY: a live window of the tree.
    unsafe { (*window).drawable.id }
}

/// `[instance, class]` of the client's first top-level window that has WM_CLASS.
/// Each part is cut to `MAX_TEXT` bytes (`ClientInfo::text`): the client chose them.
pub fn wm_class(index: usize) -> Option<[String; 2]> {
    top_levels(index).into_iter().find_map(|w| {
        with_property(w, sys::LIFESIGN_XA_WM_CLASS, |kind, format, data| {
            if kind != sys::LIFESIGN_XA_STRING || format != 8 {
                return None;
            }
            let mut parts = data.split(|&b| b == 0).map(ClientInfo::text);
            Some([parts.next()?, parts.next().unwrap_or_default()])
        })
    })
}

/// The client's first top-level window whose WM_PROTOCOLS lists `_NET_WM_PING`.
pub fn ping_window(index: usize, atoms: Atoms) -> Option<u32> {
    top_levels(index).into_iter().find_map(|w| {
        let lists_ping = with_property(w, atoms.wm_protocols, |kind, format, data| {
            Some(
                kind == sys::LIFESIGN_XA_ATOM
                    && format == 32
                    && data
                        .chunks_exact(4)
                        .any(|a| u32::from_ne_bytes([a[0], a[1], a[2], a[3]]) == atoms.net_wm_ping),
            )
        });
        (lists_ping == Some(true)).then(|| window_id(w))
    })
}

/// Sends `_NET_WM_PING` to `window` of the client, as a window manager would.
pub fn send_ping(client: &mut ClientView<'_>, ping: WmPing) {
    // The server keeps events in its own order and swaps them for swapped clients.
    let mut event = ping.event(client.sequence(), ByteOrder::native());
    client.write_event(&mut event);
}
