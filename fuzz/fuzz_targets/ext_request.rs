//! Fuzzes LIFESIGN requests in both byte orders, re-encoded and parsed back; the properties are in `lifesign_fuzz_check::ext_request`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lifesign_fuzz_check::ext_request::check(data));
