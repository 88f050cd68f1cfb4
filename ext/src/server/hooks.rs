//! The one interface through which this layer calls the module's logic.
//!
//! The server layer owns the C entry points; the logic above implements [`Module`], and the
//! crate root hands this layer that implementation ([`crate::MODULE`]). Nothing here names the
//! files of the logic, so the layers depend one way: the logic on this layer, never back.
//! Every method runs on the server's main thread, inside [`super::guard::entry`].

use super::client::{ClientView, Request, XError};
use super::notify::Ready;
use std::os::fd::RawFd;

/// Where the module's options came from, as the server handed them over.
pub enum Options {
    /// `SubSection "lifesign"` in xorg.conf: the option list of one setup call.
    XorgConf(Vec<(String, String)>),
    /// Preload mode: the `LIFESIGN_OPTIONS` variable as it was.
    Environment(String),
}

/// A change of the server grab.
#[derive(Clone, Copy, Debug)]
pub enum Grab {
    /// A client (by index, when known) grabbed the server.
    By(Option<usize>),
    Released,
}

/// What the module does when the server calls it.
pub trait Module: Sync {
    /// One setup call of the loader (Xorg), or the constructor (preload).
    fn setup(&self, options: Options);
    /// The start of a server generation (the extension's init function).
    fn init_generation(&self);
    /// The end of a generation (the extension's CloseDown).
    fn close_generation(&self);
    /// A client connected, finished its setup, or went.
    fn client_state(&self, client: &mut ClientView<'_>);
    /// A request of the LIFESIGN extension.
    fn request(&self, request: &mut Request<'_>) -> Result<(), XError>;
    /// `sender` sends `event` (32 bytes, the server's byte order) with SendEvent: true if the
    /// module takes it for itself (an answer to its own `_NET_WM_PING`), and it is dropped.
    fn sent_event(&self, sender: &mut ClientView<'_>, event: &[u8; 32]) -> bool;
    /// The server was grabbed or released.
    fn grab(&self, grab: Grab);
    /// WM_CLASS of a window of client `owner` is being written (the request stores it after
    /// this call).
    fn class_written(&self, owner: usize);
    /// The module's timer came due; returns when it is due again (ms from now), if at all.
    fn timer(&self) -> Option<u64>;
    /// The launcher link's reconnect timer came due.
    fn reconnect(&self);
    /// The launcher link's socket is ready.
    fn link_ready(&self, fd: RawFd, ready: Ready);
    /// The link's callback failed: `fd` must leave the server's poll loop.
    fn link_failed(&self, fd: RawFd);
}

pub(crate) fn module() -> &'static dyn Module {
    crate::MODULE
}
