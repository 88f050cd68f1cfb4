//! A panic in the module never reaches the server: the guard catches it, logs it, and the
//! module fails closed (requests get an X error, callbacks do nothing). The module is the
//! fault-injection build: `LIFESIGN_FAULT=<entry point>` makes that entry point panic.

use lifesign_proto::event::Body;
use lifesign_tests::server::fault_module_path;
use lifesign_tests::{Xorg, lifesign};
use std::time::Duration;
use x11rb::connection::RequestConnection;
use x11rb::errors::ReplyError;
use x11rb::protocol::ErrorKind;
use x11rb::protocol::xproto::ConnectionExt as _;

fn query_version_error(conn: &impl RequestConnection) -> Option<ErrorKind> {
    match lifesign::try_query_version(conn) {
        Ok(_) => None,
        Err(ReplyError::X11Error(e)) => Some(e.error_kind),
        Err(e) => panic!("the connection broke: {e}"),
    }
}

#[test]
fn a_panic_in_a_request_is_an_x_error_and_the_server_goes_on() {
    let mut server = Xorg::new()
        .module_file(fault_module_path())
        .env("LIFESIGN_FAULT", "a LIFESIGN request")
        .start();
    let conn = server.connect();
    assert_eq!(query_version_error(&conn), Some(ErrorKind::Implementation));
    conn.get_input_focus()
        .unwrap()
        .reply()
        .expect("the server goes on");
    // Disabled from now on: closed, not guessing.
    assert_eq!(query_version_error(&conn), Some(ErrorKind::Implementation));
    let errors =
        server.log_lines("(EE) lifesign: internal error in a LIFESIGN request: injected fault");
    assert_eq!(errors.len(), 1, "{}", server.log());
    let other = server.connect();
    other
        .get_input_focus()
        .unwrap()
        .reply()
        .expect("other clients are served");
    assert!(server.is_running());
}

#[test]
fn a_panic_in_the_deadline_timer_disables_watching_and_nothing_else() {
    let mut server = Xorg::new()
        .module_file(fault_module_path())
        .env("LIFESIGN_FAULT", "the deadline timer")
        .option("Watch", "all")
        .option("IdleTimeout", "500ms")
        .option("Grace", "0")
        .start();
    let quiet = server.connect();
    quiet.get_input_focus().unwrap().reply().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // Watching is off: the idle client is not convicted, and it is still served.
    quiet
        .get_input_focus()
        .unwrap()
        .reply()
        .expect("not closed");
    assert!(
        !server
            .events()
            .iter()
            .any(|e| matches!(e.body, Body::Lost { .. }))
    );
    assert_eq!(
        server
            .log_lines("(EE) lifesign: internal error in the deadline timer")
            .len(),
        1
    );
    assert!(server.is_running());
}
