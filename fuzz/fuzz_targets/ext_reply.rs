//! Fuzzes QueryVersion and ListClients replies, and the ListClients JSON; the properties are in `lifesign_fuzz_check::ext_reply`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lifesign_fuzz_check::ext_reply::check(data));
