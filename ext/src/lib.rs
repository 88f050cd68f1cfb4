//! `liblifesign.so`: the lifesign extension module for the X.Org server.
//!
//! Three layers, each in its own place:
//! - `lifesign-sys`: the raw bindings, generated from the installed SDK;
//! - [`server`]: the thin layer over the server, the only code here with `unsafe`; it owns the
//!   C entry points, guards each one against panics, and hands safe views to the layer above;
//! - [`module`] (life across generations), [`watch`] (watching clients) and [`requests`]
//!   (the extension's requests): what the module does, in safe Rust, using the pure logic of
//!   `lifesign-watchdog` and the wire formats of `lifesign-proto`.
//!
//! Loaded by Xorg from xorg.conf (`SubSection "lifesign"`), or into Xvfb/Xephyr with
//! `LD_PRELOAD` and options from `LIFESIGN_OPTIONS`.

#![deny(unsafe_code)]

mod activity;
mod link;
mod module;
mod requests;
mod server;
#[cfg(feature = "handler-timing")]
mod timing;
mod watch;
