//! Fuzzes module options (xorg.conf pairs and LIFESIGN_OPTIONS); the properties are in `lifesign_fuzz_check::options`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lifesign_fuzz_check::options::check(data));
