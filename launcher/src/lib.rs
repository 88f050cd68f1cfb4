//! lifesign-launcher: receives the module's events on a Unix socket and starts backup
//! clients (`../shared/product.md`, "Launcher"; docs/launcher.md).
//!
//! The logic is pure and unit-tested: the configuration, service matching, the wire format,
//! flap protection, the state file, and the [`engine`] that decides. The daemon around it
//! (`daemon`) does the I/O.
//!
//! No `unsafe` but one block, allowed where it is: the overlay's `pre_exec`, which asks for
//! a signal when the launcher dies (`daemon/overlay.rs`; std has no safe way to ask it).

#![deny(unsafe_code)]

pub mod config;
pub mod daemon;
pub mod engine;
pub mod flap;
pub mod log;
pub mod matching;
pub mod overlay;
pub mod state;
pub mod wire;

pub use config::{Config, ConfigError, Service};
