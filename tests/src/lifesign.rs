//! The LIFESIGN requests over an x11rb connection, encoded by `lifesign-proto`.

use lifesign_proto::ByteOrder;
use lifesign_proto::ext::{self, QueryVersionReply};
use std::io::IoSlice;
use x11rb::connection::RequestConnection;
use x11rb::errors::ParseError;
use x11rb::x11_utils::TryParse;

/// QueryVersion's reply as x11rb parses it (x11rb speaks the machine's byte order).
pub struct VersionReply(pub QueryVersionReply);

impl TryParse for VersionReply {
    fn try_parse(value: &[u8]) -> Result<(Self, &[u8]), ParseError> {
        let reply = QueryVersionReply::parse(value, ByteOrder::native())
            .map_err(|_| ParseError::InvalidValue)?;
        Ok((Self(reply), &value[32..]))
    }
}

/// The extension's major opcode, or `None` if the server does not have it.
pub fn major_opcode(conn: &impl RequestConnection) -> Option<u8> {
    conn.extension_information(ext::EXTENSION_NAME)
        .expect("QueryExtension")
        .map(|info| info.major_opcode)
}

/// Sends QueryVersion and waits for the reply.
pub fn query_version(conn: &impl RequestConnection) -> QueryVersionReply {
    try_query_version(conn).expect("QueryVersion reply")
}

/// Sends QueryVersion; the reply, or the error the server answered with.
pub fn try_query_version(
    conn: &impl RequestConnection,
) -> Result<QueryVersionReply, x11rb::errors::ReplyError> {
    let opcode = major_opcode(conn).expect("the server has LIFESIGN");
    let request = ext::Request::QueryVersion {
        client_major: ext::MAJOR_VERSION,
        client_minor: ext::MINOR_VERSION,
    }
    .encode(opcode, ByteOrder::native());
    let cookie = conn
        .send_request_with_reply::<VersionReply>(&[IoSlice::new(&request)], Vec::new())
        .expect("send QueryVersion");
    cookie.reply().map(|r| r.0)
}

/// Sends Watch (opt in, or change the client's own policy); the server answers errors only.
pub fn watch(
    conn: &impl RequestConnection,
    request: ext::WatchRequest,
) -> x11rb::cookie::VoidCookie<'_, impl RequestConnection> {
    let opcode = major_opcode(conn).expect("the server has LIFESIGN");
    let bytes = ext::Request::Watch(request).encode(opcode, ByteOrder::native());
    conn.send_request_without_reply(&[IoSlice::new(&bytes)], Vec::new())
        .expect("send Watch")
}

/// Sends Unwatch.
pub fn unwatch(conn: &impl RequestConnection) {
    let opcode = major_opcode(conn).expect("the server has LIFESIGN");
    let bytes = ext::Request::Unwatch.encode(opcode, ByteOrder::native());
    conn.send_request_without_reply(&[IoSlice::new(&bytes)], Vec::new())
        .expect("send Unwatch")
        .check()
        .expect("Unwatch succeeds");
}

/// ListClients' reply as x11rb parses it.
pub struct ListReply(pub ext::ListClientsReply);

impl TryParse for ListReply {
    fn try_parse(value: &[u8]) -> Result<(Self, &[u8]), ParseError> {
        let reply = ext::ListClientsReply::parse(value, ByteOrder::native())
            .map_err(|_| ParseError::InvalidValue)?;
        Ok((Self(reply), &[]))
    }
}

/// The watched clients.
pub fn list_clients(conn: &impl RequestConnection) -> Vec<lifesign_proto::event::StatusEntry> {
    let opcode = major_opcode(conn).expect("the server has LIFESIGN");
    let bytes = ext::Request::ListClients.encode(opcode, ByteOrder::native());
    let reply = conn
        .send_request_with_reply::<ListReply>(&[IoSlice::new(&bytes)], Vec::new())
        .expect("send ListClients")
        .reply()
        .expect("ListClients reply");
    serde_json::from_str(&reply.0.json).expect("ListClients JSON")
}
