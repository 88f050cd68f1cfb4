//! Fuzzes _NET_WM_PING answers (SendEvent requests) in both byte orders; the properties are in `lifesign_fuzz_check::core_pong`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lifesign_fuzz_check::core_pong::check(data));
