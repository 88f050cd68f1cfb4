//! The module loads into a real Xorg (from xorg.conf) and a real Xvfb (LD_PRELOAD), registers
//! LIFESIGN 1.1, and real clients work against it.

use lifesign_tests::{Xephyr, Xorg, Xvfb, lifesign};
use std::time::Duration;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::ConnectionExt as _;

fn lists_lifesign(server: &lifesign_tests::Server) -> bool {
    let out = server.run("xdpyinfo", &["-queryExtensions"]);
    assert!(out.status.success(), "xdpyinfo failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim_start().starts_with("LIFESIGN "))
}

#[test]
fn xorg_loads_the_module_from_its_config() {
    let mut server = Xorg::new().option("IdleTimeout", "3s").start();
    assert!(
        lists_lifesign(&server),
        "xdpyinfo -queryExtensions lacks LIFESIGN"
    );

    let conn = server.connect();
    let version = lifesign::query_version(&conn);
    assert_eq!((version.major, version.minor), (1, 2));

    let enabled = server.log_lines("(II) lifesign: enabled, options from xorg.conf");
    assert_eq!(enabled.len(), 1, "{enabled:?}");
    assert!(enabled[0].contains("IdleTimeout=3s"), "{}", enabled[0]);
    assert!(
        enabled[0].contains("Watch=tcp"),
        "defaults apply: {}",
        enabled[0]
    );

    // A real client runs against it and the module sees it come and go.
    let mut xclock = server.spawn("xclock", &["-update", "1"]);
    assert!(
        server.wait_for_log("command Some(\"xclock\")", 1, Duration::from_secs(20)),
        "the module did not see xclock connect"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(xclock.try_wait().unwrap().is_none(), "xclock exited");
    xclock.kill().unwrap();
    xclock.wait().unwrap();
    conn.get_input_focus().unwrap().reply().unwrap();
    assert!(server.is_running());
}

#[test]
fn xvfb_loads_the_module_by_preload() {
    let mut server = Xvfb::with_options("IdleTimeout=3s;Watch=all").start();
    assert!(
        lists_lifesign(&server),
        "xdpyinfo -queryExtensions lacks LIFESIGN"
    );

    let conn = server.connect();
    let version = lifesign::query_version(&conn);
    assert_eq!((version.major, version.minor), (1, 2));
    let enabled = server.log_lines("(II) lifesign: enabled, options from LIFESIGN_OPTIONS");
    assert_eq!(enabled.len(), 1, "{}", server.log());
    assert!(enabled[0].contains("IdleTimeout=3s") && enabled[0].contains("Watch=all"));

    let mut xclock = server.spawn("xclock", &[]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(xclock.try_wait().unwrap().is_none(), "xclock exited");
    xclock.kill().unwrap();
    xclock.wait().unwrap();
    assert!(server.is_running());
}

#[test]
fn xephyr_loads_the_module_by_preload() {
    let host = Xvfb::stock().start();
    let lifesign_in = |server: &lifesign_tests::Server| lifesign::major_opcode(&server.connect());
    assert_eq!(lifesign_in(&host), None, "the stock host has no LIFESIGN");

    let mut nested = Xephyr::with_options("IdleTimeout=2s").start_on(&host);
    assert!(
        lists_lifesign(&nested),
        "xdpyinfo -queryExtensions lacks LIFESIGN"
    );
    let version = lifesign::query_version(&nested.connect());
    assert_eq!((version.major, version.minor), (1, 2));
    assert_eq!(
        nested.log_lines("lifesign: enabled").len(),
        1,
        "{}",
        nested.log()
    );
    assert!(nested.is_running());
}

/// The server compiles its keymap with `sh -c xkbcomp ...`: had LD_PRELOAD still named the
/// module, that shell would fail to load it ("symbol lookup error") and the keymap with it.
#[test]
fn xvfb_children_do_not_inherit_the_preload() {
    let server = Xvfb::with_options("").start();
    let conn = server.connect();
    let setup = conn.setup();
    let count = setup.max_keycode - setup.min_keycode + 1;
    let map = conn
        .get_keyboard_mapping(setup.min_keycode, count)
        .unwrap()
        .reply()
        .unwrap();
    assert!(
        map.keysyms.iter().any(|&k| k != 0),
        "no keymap was compiled"
    );
    let log = server.log();
    assert!(!log.contains("symbol lookup error"), "{log}");
    assert!(!log.contains("Error compiling keymap"), "{log}");
}

/// `Load "lifesign"` and `SubSection "lifesign"` together: the loader runs setup for each,
/// the extension is still registered once, and the SubSection's options are the ones used.
#[test]
fn load_and_subsection_register_once() {
    for body in [
        "  Load \"lifesign\"\n  SubSection \"lifesign\"\n    Option \"IdleTimeout\" \"4s\"\n  EndSubSection\n",
        "  SubSection \"lifesign\"\n    Option \"IdleTimeout\" \"4s\"\n  EndSubSection\n  Load \"lifesign\"\n",
    ] {
        let server = Xorg::new().module_section(body).start();
        assert!(lists_lifesign(&server));
        let conn = server.connect();
        assert_eq!(lifesign::query_version(&conn).major, 1);
        // Both lines really reach the module's setup...
        assert_eq!(server.log_lines("lifesign: setup from xorg.conf").len(), 2);
        // ...and still one extension, with the SubSection's options.
        assert_eq!(server.log_lines("Initializing extension LIFESIGN").len(), 1);
        let enabled = server.log_lines("lifesign: enabled");
        assert_eq!(enabled.len(), 1, "{enabled:?}");
        assert!(enabled[0].contains("IdleTimeout=4s"), "{}", enabled[0]);
        assert_eq!(
            server
                .log_lines("lifesign: generation 1: extension LIFESIGN")
                .len(),
            1
        );
    }
}
