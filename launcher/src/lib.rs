//! The launcher's logic: its TOML configuration (`../shared/product.md`, "Launcher") and
//! which service an event's client belongs to. The daemon around it is issue 4's next step.

#![forbid(unsafe_code)]

pub mod config;
pub mod matching;

pub use config::{Config, ConfigError, Service};
