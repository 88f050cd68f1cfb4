//! RECORD, as input recorders, macro and automation tools use it, works on watched clients as
//! on a stock server: several contexts on a watched client's core requests, created, enabled,
//! disabled and freed in varied orders with requests of that client in between. The server
//! keeps answering, and each context records what it records on a stock server for the same
//! script. (The request hook of earlier versions swapped clients' vectors behind RECORD's
//! back: the server aborted on the second context, and one context saw a client's requests
//! only until its first.)

use lifesign_tests::{Server, Xorg, Xvfb};
use std::path::Path;

/// Orders of steps: `c` create, `e` enable, `d` disable, `f` free, then the context's name.
const ORDERS: &[&str] = &[
    "ca,ea,cb,eb,da,fa,db,fb",
    "ca,cb,eb,ea,db,da,fb,fa",
    "ca,ea,da,ea,cb,eb,fa,db,fb",
    "ca,ea,cb,eb,cc,ec,db,fb,dc,da,fc,fa",
];

fn script() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("record/record_script.py")
        .display()
        .to_string()
}

/// Runs the RECORD script with `order` against `server`: its JSON line.
fn record(server: &Server, order: &str) -> String {
    // Debian's Python, which python3-xlib is installed for.
    let out = server.run("/usr/bin/python3", &[&script(), order]);
    assert!(
        out.status.success(),
        "RECORD script failed ({order}): {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn same_as_stock(watched: Server, stock: Server) {
    for order in ORDERS {
        let expected = record(&stock, order);
        assert!(expected.contains("\"recorded\""), "{expected}");
        let got = record(&watched, order);
        assert_eq!(got, expected, "order {order}");
    }
    // Still serving, and nobody was taken for lost.
    let conn = watched.connect();
    use x11rb::protocol::xproto::ConnectionExt as _;
    conn.get_input_focus().unwrap().reply().unwrap();
    drop(conn);
    assert!(
        watched.log_lines("\"type\":\"lost\"").is_empty(),
        "{}",
        watched.log()
    );
}

#[test]
fn record_contexts_on_watched_clients_record_what_a_stock_xvfb_records() {
    let watched =
        Xvfb::with_options("Watch=all;IdleTimeout=20s;ExpectNoOperation=0;WmPing=1s;Grace=0")
            .start();
    same_as_stock(watched, Xvfb::stock().start());
}

#[test]
fn record_contexts_on_watched_clients_record_what_a_stock_xorg_records() {
    let watched = Xorg::new()
        .option("Watch", "all")
        .option("IdleTimeout", "20s")
        .option("WmPing", "1s")
        .start();
    same_as_stock(watched, Xorg::new().stock().start());
}
