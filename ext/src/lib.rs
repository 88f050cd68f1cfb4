//! `liblifesign.so`: the lifesign extension module for the X.Org server.
//!
//! Three layers, each in its own place, depending one way:
//! - `lifesign-sys`: the raw bindings, generated from the installed SDK;
//! - [`server`]: the thin layer over the server, the only code here with `unsafe`; it owns the
//!   C entry points, guards each one against panics, and calls the logic above through the one
//!   interface it defines ([`server::hooks::Module`]), never by name;
//! - [`module`] (life across generations), [`watch`] (watching clients), [`requests`] (the
//!   extension's requests) and [`link`] (the launcher): what the module does, in safe Rust,
//!   using the pure logic of `lifesign-watchdog` and the wire formats of `lifesign-proto`.
//!
//! Loaded by Xorg from xorg.conf (`SubSection "lifesign"`), or into Xvfb/Xephyr with
//! `LD_PRELOAD` and options from `LIFESIGN_OPTIONS`.

#![deny(unsafe_code)]

mod link;
mod module;
mod requests;
mod server;
#[cfg(feature = "handler-timing")]
mod timing;
mod watch;

/// The module's logic, as the server layer reaches it.
static MODULE: &dyn server::hooks::Module = &module::Lifesign;
