//! Raw bindings to the X.Org server SDK, generated at build time from the installed headers.
//!
//! Nothing here is safe to use directly: the `lifesign` module wraps what it needs in a small
//! safe layer (`ext/src/server/`). Only the items lifesign uses are generated.

#![no_std]
#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case)]
#![allow(
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![allow(unsafe_op_in_unsafe_fn)]

mod generated {
    #![allow(dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

pub use generated::*;
