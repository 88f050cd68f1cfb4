//! Fuzzes option durations, displayed and parsed back; the properties are in `lifesign_fuzz_check::duration`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lifesign_fuzz_check::duration::check(data));
