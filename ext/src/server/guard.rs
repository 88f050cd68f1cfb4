//! The one guard around every C→Rust entry point.
//!
//! A panic is caught, logged through the server log, and the module is disabled from then on:
//! requests get an X error, callbacks do nothing, wrapped core requests pass straight through.
//! The server keeps running; it never sees an unwind.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

static DISABLED: AtomicBool = AtomicBool::new(false);

/// True once an entry point has panicked, or the configuration was refused.
pub fn disabled() -> bool {
    DISABLED.load(Ordering::Relaxed)
}

/// Disables the module for the rest of the server's life.
pub fn disable() {
    DISABLED.store(true, Ordering::Relaxed);
}

/// Runs `body` for the entry point `name`; returns `fallback()` if the module is disabled or
/// `body` panics.
pub fn entry<R>(name: &'static str, fallback: impl FnOnce() -> R, body: impl FnOnce() -> R) -> R {
    if disabled() {
        return fallback();
    }
    #[cfg(feature = "handler-timing")]
    let began = crate::timing::begin();
    let value = match catch_unwind(AssertUnwindSafe(|| {
        inject_fault(name);
        body()
    })) {
        Ok(value) => value,
        Err(payload) => {
            disable();
            tracing::error!(
                "internal error in {name}: {}; lifesign is disabled until the server restarts",
                panic_message(payload.as_ref())
            );
            fallback()
        }
    };
    #[cfg(feature = "handler-timing")]
    crate::timing::entry(name, began);
    value
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic")
}

/// With the `fault-injection` feature, `LIFESIGN_FAULT=<entry point name>` makes that entry
/// point panic, as a bug would.
#[cfg(feature = "fault-injection")]
fn inject_fault(name: &str) {
    if std::env::var("LIFESIGN_FAULT").is_ok_and(|f| f == name) {
        panic!("injected fault");
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
fn inject_fault(_name: &str) {}
