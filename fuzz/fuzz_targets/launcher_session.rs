//! Fuzzes the launcher's sessions with servers (event lines into the engine); the properties
//! are in `lifesign_fuzz_check::launcher_session`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lifesign_fuzz_check::launcher_session::check(data));
