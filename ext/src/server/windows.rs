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
pub(super) fn owner(id: u32) -> usize {
    // SAFETY: a pure function of the server's client limit.
    let bits = unsafe { sys::ResourceClientBits() } as u32;
    let offset = 29 - bits;
    ((id >> offset) & ((1 << bits) - 1)) as usize
}

/// At most this many of a client's windows are looked at, and at most `MOST_TOP_LEVELS`
/// top-level ones kept: what any application has, and a bound on what one with half a million
/// windows can make every look at it (its class in ListClients, in events) cost.
pub(super) const MOST_WINDOWS: usize = 4096;
const MOST_TOP_LEVELS: usize = 64;

/// The top-level windows of client `index`: its windows that are children of a root, or
/// (under a reparenting window manager) children of a root's child that another client made.
/// Found among the client's own resources (the server's table of them), so the cost is the
/// client's own windows, at most `MOST_WINDOWS` of them, whatever other clients have made.
/// Lowest resource ID (first created) first.
pub(super) fn top_levels(index: usize) -> Vec<sys::WindowPtr> {
    let Some(client) = super::clients::record(index) else {
        return Vec::new();
    };
    let mut search = Search {
        found: Vec::new(),
        looked_at: 0,
    };
    // SAFETY: on the server thread between requests (or in the client's Gone callback, before
    // the server frees its resources): the client's resource table and the window tree are
    // consistent and only read; `search` outlives the call, which passes it back to `collect`
    // only.
    unsafe {
        sys::LookupClientResourceComplex(
            client,
            sys::LIFESIGN_RT_WINDOW,
            Some(collect),
            (&raw mut search).cast(),
        );
    }
    search.found.sort_unstable_by_key(|&(id, _)| id);
    search.found.into_iter().map(|(_, w)| w).collect()
}

struct Search {
    found: Vec<(u32, sys::WindowPtr)>,
    looked_at: usize,
}

/// `LookupClientResourceComplex`'s callback: keeps a window whose parent is a root, or a
/// root's child that another client made (a window manager's frame); stops the search (true)
/// at the bounds.
unsafe extern "C" fn collect(
    value: *mut std::ffi::c_void,
    id: sys::XID,
    data: *mut std::ffi::c_void,
) -> sys::Bool {
    // SAFETY: the server passes a live window of the client (the type asked for) and the
    // `data` given to it, our Search. Nothing here can unwind: a failed allocation aborts.
    unsafe {
        let search = &mut *data.cast::<Search>();
        search.looked_at += 1;
        let window = value.cast::<sys::WindowRec>();
        let parent = (*window).parent;
        if !parent.is_null() {
            let grandparent = (*parent).parent;
            let top = grandparent.is_null()
                || ((*grandparent).parent.is_null() && owner((*parent).drawable.id) != owner(id));
            if top {
                search.found.push((id, window));
            }
        }
        sys::Bool::from(search.looked_at >= MOST_WINDOWS || search.found.len() >= MOST_TOP_LEVELS)
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
