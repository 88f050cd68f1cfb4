//! The entry-times file that a `handler-timing` build of the module writes
//! (`LIFESIGN_ENTRY_TIMES`, `ext/src/timing.rs`) and the fault benchmark reads
//! (`bench/src/faults.rs`): one line per entry point, tab-separated: its name, its calls, then
//! for wall time and then for the thread's CPU time the longest call (ns) and the calls in
//! each bucket of [`BUCKETS_NS`].

/// Upper bounds of the histograms' buckets, ns; a last bucket holds everything above.
pub const BUCKETS_NS: [u64; 7] = [
    10_000, 100_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 50_000_000,
];

/// Not an entry point: the server's own CloseDownClient of a client the module lost, timed
/// inside the block handler. Names in parentheses are such parts, not calls into the module.
pub const SERVER_CLOSE: &str = "(the server's CloseDownClient of a lost client)";
