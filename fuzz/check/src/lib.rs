//! The properties lifesign's parsers must hold, each checked on one input.
//!
//! The fuzz targets (`fuzz/fuzz_targets/`) call these on what libFuzzer makes; the test
//! `tests/corpus.rs` calls them on every file of `fuzz/corpus/` and `fuzz/regressions/` and on
//! the [`seeds`], on stable Rust, in the test suite. Each check takes raw bytes as libFuzzer
//! gives them, so a corpus file means the same to both. A check panics when a property
//! fails; returning is passing. Parsing alone proves little: every check also asserts what a
//! result must satisfy, and re-encodes what parsed to see it parse back the same.

#![forbid(unsafe_code)]

pub mod core_pong;
pub mod duration;
pub mod event_line;
pub mod ext_reply;
pub mod ext_request;
pub mod launcher_config;
pub mod launcher_session;
pub mod launcher_state;
pub mod options;
pub mod seeds;

/// A check of one input: returns if every property holds, panics if one does not.
pub type Check = fn(&[u8]);

/// Every fuzz target, by the name of its file in `fuzz/fuzz_targets/`, and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("ext_request", ext_request::check),
    ("ext_reply", ext_reply::check),
    ("core_pong", core_pong::check),
    ("options", options::check),
    ("duration", duration::check),
    ("event_line", event_line::check),
    ("launcher_config", launcher_config::check),
    ("launcher_state", launcher_state::check),
    ("launcher_session", launcher_session::check),
];

/// The byte order an input's bit chooses.
fn order(bit: u8) -> lifesign_proto::ByteOrder {
    if bit & 1 == 0 {
        lifesign_proto::ByteOrder::LsbFirst
    } else {
        lifesign_proto::ByteOrder::MsbFirst
    }
}

/// The other byte order: what a byte-swapped client speaks.
fn swapped(order: lifesign_proto::ByteOrder) -> lifesign_proto::ByteOrder {
    match order {
        lifesign_proto::ByteOrder::LsbFirst => lifesign_proto::ByteOrder::MsbFirst,
        lifesign_proto::ByteOrder::MsbFirst => lifesign_proto::ByteOrder::LsbFirst,
    }
}
