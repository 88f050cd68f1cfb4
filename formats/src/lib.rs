//! The text formats that lifesign's module, its launcher and its CLI all read, each written
//! once so that a value means the same wherever an operator writes it.
//!
//! - [`duration`]: durations as operators write them (`500ms`, `3s`, `1.5s`, `2m`): the
//!   module's options (`lifesign-watchdog`), the launcher's `window` and `startup_timeout`,
//!   and `lifesign pulse`'s `--interval`, `--expect` and `--timeout`.
//! - [`net`]: peers: an address or CIDR as the module's `WatchPeers` and the launcher's
//!   `match.peer` take it, and a v4 client of a dual-stack socket (`::ffff:a.b.c.d`) as its
//!   v4 address, as the module reports it and the module and launcher match it.
//!
//! What crosses a process boundary (the LIFESIGN extension, the launcher's event lines) is
//! `lifesign-proto`'s.

#![forbid(unsafe_code)]

pub mod duration;
pub mod net;
