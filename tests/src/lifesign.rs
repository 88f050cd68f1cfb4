//! The LIFESIGN requests for tests: the client library (`lifesign`), with panics for what a
//! test does not expect, and Watch unchecked (a test checks its cookie, or its error).

use lifesign::Lifesign;
use lifesign_proto::ext::{self, QueryVersionReply};
use x11rb::connection::RequestConnection;

fn extension(conn: &impl RequestConnection) -> Lifesign {
    Lifesign::new(conn).expect("the server has LIFESIGN")
}

/// The extension's major opcode, or `None` if the server does not have it.
pub fn major_opcode(conn: &impl RequestConnection) -> Option<u8> {
    match Lifesign::new(conn) {
        Ok(ls) => Some(ls.major_opcode()),
        Err(lifesign::Error::Absent) => None,
        Err(e) => panic!("QueryExtension: {e}"),
    }
}

/// Sends QueryVersion and waits for the reply.
pub fn query_version(conn: &impl RequestConnection) -> QueryVersionReply {
    try_query_version(conn).expect("QueryVersion reply")
}

/// Sends QueryVersion; the reply, or the error the server answered with.
pub fn try_query_version(
    conn: &impl RequestConnection,
) -> Result<QueryVersionReply, x11rb::errors::ReplyError> {
    match extension(conn).query_version(conn) {
        Ok(reply) => Ok(reply),
        Err(lifesign::Error::Reply(e)) => Err(e),
        Err(e) => panic!("QueryVersion: {e}"),
    }
}

/// Sends Watch (opt in, or change the client's own policy); the server answers errors only.
pub fn watch(
    conn: &impl RequestConnection,
    request: ext::WatchRequest,
) -> x11rb::cookie::VoidCookie<'_, impl RequestConnection> {
    extension(conn)
        .send_watch(conn, &request.into())
        .expect("send Watch")
}

/// Sends Unwatch.
pub fn unwatch(conn: &impl RequestConnection) {
    extension(conn).unwatch(conn).expect("Unwatch succeeds");
}

/// The watched clients.
pub fn list_clients(conn: &impl RequestConnection) -> Vec<lifesign_proto::event::StatusEntry> {
    extension(conn)
        .list_clients(conn)
        .expect("ListClients reply")
}
