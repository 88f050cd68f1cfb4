//! A launcher of the test's own on the module's `Launcher` socket, unkind on purpose, so that
//! memcheck sees every path of the module's link: on its first connection it acknowledges
//! events until the first `lost`, then hangs up without acknowledging it (the module must
//! send it again after reconnecting); on its second it answers with what a broken launcher
//! might send (not JSON, another version, an unknown seq, not UTF-8, then a line growing past
//! the module's 4096-byte limit, which makes the module drop the connection); from the third
//! on it acknowledges everything, as lifesign-launcher does.

use lifesign_proto::event::{Body, Event};
use lifesign_tests::listener::{Answer, Listener, ack_kept};
use std::path::Path;

pub fn bind(path: &Path) -> Listener {
    Listener::bind_answering(path, answer)
}

fn answer(conn: usize, event: &Event) -> Answer {
    match (conn, &event.body) {
        (0, Body::Lost { .. }) => Answer::HangUp,
        (1, Body::Hello { .. }) => Answer::Send(garbage()),
        (1, _) => Answer::Silence,
        _ => ack_kept(conn, event),
    }
}

/// Lines the module must ignore, then the start of one it must drop the connection for:
/// more than 4096 bytes and no end in sight.
fn garbage() -> Vec<u8> {
    let mut out = b"not json\n{\"v\":2,\"type\":\"ack\",\"seq\":1}\n".to_vec();
    out.extend_from_slice(b"{\"v\":1,\"type\":\"ack\",\"seq\":18446744073709551615}\n");
    out.extend_from_slice(b"{\"v\":1,\"type\":\"nack\",\"seq\":1}\n\xff\xfe\xfd\n\n");
    out.extend(std::iter::repeat_n(b'x', 5000));
    out
}
