//! The thin safe layer over the X server: the only module of the crate with `unsafe`.
//!
//! Every function the server calls is defined here, and each runs its body inside
//! [`guard::entry`], so a panic never unwinds into C. What the layer above sees are safe views
//! ([`client::Request`], [`client::ClientView`]) valid for the duration of one call.
//!
//! All of it runs on the server's main thread: the server calls extensions, callbacks and
//! request handlers from nowhere else, and the module starts no thread that touches the server.

#![allow(unsafe_code)]

pub mod callbacks;
pub mod client;
pub mod clients;
pub mod extension;
pub mod guard;
pub mod hooks;
pub mod identity;
pub mod loader;
pub mod log;
pub mod notify;
pub mod repaint;
pub mod socket;
pub mod time;
pub mod timer;
pub mod windows;
pub mod wraps;
pub mod xevents;
