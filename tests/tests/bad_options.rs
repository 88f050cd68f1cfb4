//! A bad option gives one `(EE) lifesign:` line naming the option, the value and the accepted
//! form; the server still starts and serves; the module stays disabled (no LIFESIGN).

use lifesign_tests::{Server, Xorg, Xvfb, lifesign};
use x11rb::protocol::xproto::ConnectionExt as _;

fn assert_refused(server: &mut Server, option: &str, value: &str, form: &str) {
    let errors = server.log_lines("(EE) lifesign:");
    assert_eq!(errors.len(), 1, "exactly one (EE) line: {errors:?}");
    let line = &errors[0];
    assert!(
        line.contains(&format!("\"{option}\"")),
        "names the option: {line}"
    );
    assert!(
        line.contains(&format!("\"{value}\"")),
        "names the value: {line}"
    );
    assert!(
        line.contains(form),
        "names the accepted form ({form}): {line}"
    );
    assert!(
        line.contains("disabled"),
        "says the module is disabled: {line}"
    );

    let conn = server.connect();
    conn.get_input_focus().unwrap().reply().unwrap();
    assert_eq!(
        lifesign::major_opcode(&conn),
        None,
        "LIFESIGN must be absent"
    );
    assert!(server.log_lines("lifesign: enabled").is_empty());
    assert!(server.is_running());
}

const DURATION_FORM: &str = "500ms, 3s, 1.5s or 2m";

#[test]
fn xorg_refuses_a_duration_that_is_not_one() {
    let mut server = Xorg::new().option("IdleTimeout", "banana").start();
    assert_refused(&mut server, "IdleTimeout", "banana", DURATION_FORM);
}

#[test]
fn xorg_refuses_an_unknown_option() {
    let mut server = Xorg::new().option("IdelTimeout", "3s").start();
    assert_refused(
        &mut server,
        "IdelTimeout",
        "3s",
        "a known option name: Watch, WatchPeers",
    );
}

#[test]
fn xorg_refuses_negative_and_absurd_durations() {
    for (option, value) in [
        ("Grace", "-5s"),
        ("TransportTimeout", "100000m"),
        ("WmPing", "5ms"),
    ] {
        let mut server = Xorg::new().option(option, value).start();
        assert_refused(&mut server, option, value, DURATION_FORM);
    }
}

#[test]
fn xorg_refuses_a_bad_word() {
    let mut server = Xorg::new().option("Watch", "everything").start();
    assert_refused(
        &mut server,
        "Watch",
        "everything",
        "one of all, tcp, local, none",
    );
}

#[test]
fn xvfb_refuses_bad_environment_options() {
    let mut server = Xvfb::with_options("IdleTimeout=banana").start();
    assert_refused(&mut server, "IdleTimeout", "banana", DURATION_FORM);

    let mut server = Xvfb::with_options("IdleTimeout").start();
    assert_refused(
        &mut server,
        "LIFESIGN_OPTIONS",
        "IdleTimeout",
        "Name=Value items",
    );
}
