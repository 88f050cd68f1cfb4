//! Everything that crosses a process boundary in lifesign, with no I/O and no unsafe code.
//!
//! - [`ext`]: the `LIFESIGN` X extension's requests and replies, in both byte orders, as the
//!   module parses them and as the CLI encodes them.
//! - [`event`]: the JSON lines the module sends the launcher, and the launcher's acks.
//! - [`notify`]: `LifesignNotify`, the X event of a subscriber (SelectEvents).
//! - [`core`]: the few core-protocol messages the module itself reads or writes
//!   (`_NET_WM_PING` as a ClientMessage).
//! - [`timing`]: the entry-times file of the module's benchmark builds.
//!
//! One definition per message: the module, the launcher and the CLI all use these types, so a
//! field is named and laid out in exactly one place.

#![forbid(unsafe_code)]

pub mod core;
pub mod event;
pub mod ext;
pub mod notify;
mod order;
pub mod timing;

pub use order::ByteOrder;
