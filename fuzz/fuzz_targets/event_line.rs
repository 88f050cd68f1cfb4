//! Fuzzes event and ack lines between the module and the launcher; the properties are in `lifesign_fuzz_check::event_line`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lifesign_fuzz_check::event_line::check(data));
