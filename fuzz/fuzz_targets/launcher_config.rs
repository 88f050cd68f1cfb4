//! Fuzzes the launcher's TOML configuration, written back and parsed again; the properties are in `lifesign_fuzz_check::launcher_config`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lifesign_fuzz_check::launcher_config::check(data));
