//! The watchdog's logic, free of the X server: it is handed what happened and when, and says
//! what to do. Nothing here reads a clock or touches the server, so every rule is unit-tested.
//!
//! - [`options`]: the module options of the contract, parsed and validated into a [`Config`]
//!   (durations and peers in the forms of `lifesign-formats`, shared with launcher and CLI).
//! - [`link`]: the rules of the link to the launcher (backoff, output bound, lines, acks),
//!   told what the socket did and saying what to do next.

#![forbid(unsafe_code)]

pub mod clock;
pub mod end;
pub mod link;
pub mod log_budget;
pub mod options;
pub mod outbox;
pub mod pace;
pub mod policy;
pub mod sampler;
pub mod server_id;
pub mod tracker;
pub mod transfer;

pub use options::{Config, ListClients, OnLost, OptionError, Watch};
