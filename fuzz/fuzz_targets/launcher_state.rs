//! Fuzzes the launcher's state file, and the engine restarted on it; the properties are in `lifesign_fuzz_check::launcher_state`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lifesign_fuzz_check::launcher_state::check(data));
