//! The client side of lifesign, on x11rb: ask the server's LIFESIGN extension (opt in with a
//! policy and a service name, opt out, list the watched clients), send a heartbeat of
//! NoOperation requests from a thread, and notice from the client side that the server is
//! gone; subscribe to the server's events of watched clients (`LifesignNotify`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! let (conn, _) = x11rb::connect(None)?;
//! let conn = Arc::new(conn);
//! let ls = lifesign::Lifesign::new(&*conn)?;
//! ls.watch(&*conn, &lifesign::Policy::pulse(Duration::from_secs(3)).service("plant-view"))?;
//! let pulse = lifesign::Pulse::start(conn.clone(), Duration::from_secs(1));
//! # drop(pulse);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod ext;
mod probe;
mod pulse;

pub use ext::{Error, Lifesign, Policy};
pub use lifesign_proto::event::StatusEntry;
pub use lifesign_proto::notify::{ALL_KINDS, Kind, Notify, Reason};
pub use probe::{Lost, Prober};
pub use pulse::Pulse;
