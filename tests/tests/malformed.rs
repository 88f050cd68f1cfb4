//! Malformed LIFESIGN requests get an X error, in both byte orders, and the server keeps
//! serving that client and every other.

use lifesign_tests::malformed::check;
use lifesign_tests::{Xorg, Xvfb};

#[test]
fn xorg_refuses_malformed_requests_and_keeps_serving() {
    check(&Xorg::new().start());
}

#[test]
fn xvfb_refuses_malformed_requests_and_keeps_serving() {
    check(&Xvfb::with_options("").start());
}
