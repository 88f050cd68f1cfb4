//! Hostile requests from raw clients in both byte orders, for memcheck to watch the module
//! decode them: every malformed LIFESIGN request the decoder has a branch for (lengths short,
//! long and zero, a service name longer than its request or than 255 bytes, not UTF-8, an
//! unknown flag or minor opcode), QueryVersion, ListClients and Watch as BIG-REQUESTS (well
//! formed and not), a valid Watch with a multi-byte service name, ListClients and Unwatch
//! (for one of the two clients, byte-swapped), and SendEvents that look like ping answers to
//! the module's hook (one with no ping outstanding, one of the wrong length). After each,
//! the connection still answers.

use lifesign_proto::ByteOrder;
use lifesign_proto::event::StatusEntry;
use lifesign_proto::ext::{self, ListClientsReply, QueryVersionReply, WatchRequest};
use lifesign_tests::raw::{Packet, RawClient};

const BAD_REQUEST: u8 = 1;
const BAD_VALUE: u8 = 2;
const BAD_LENGTH: u8 = 16;
const SEND_EVENT: u8 = 25;

pub fn run(display: u32) {
    for order in [ByteOrder::LsbFirst, ByteOrder::MsbFirst] {
        let mut client = RawClient::connect(display, order).expect("a raw client");
        let opcode = client
            .query_extension("LIFESIGN")
            .expect("QueryExtension")
            .expect("LIFESIGN present");
        lengths(&mut client, opcode);
        watch_values(&mut client, opcode);
        opt_in_and_out(&mut client, opcode);
        big_requests(&mut client, opcode);
        fake_pongs(&mut client);
    }
}

/// `bytes` with its length field set to `units` (and `units * 4` bytes long, at least the
/// 4-byte header the server always reads).
fn with_length(mut bytes: Vec<u8>, order: ByteOrder, units: u16) -> Vec<u8> {
    bytes.resize(usize::from(units.max(1)) * 4, 0xAB);
    bytes[2..4].copy_from_slice(&order.u16_bytes(units));
    bytes
}

fn expect_error(client: &mut RawClient, request: &[u8], code: u8, major: u8, minor: u16) {
    client.send(request).expect("send");
    match client.read_packet().expect("the server answers") {
        Packet::Error {
            code: got,
            major: got_major,
            minor: got_minor,
        } => assert_eq!(
            (got, got_major, got_minor),
            (code, major, minor),
            "{request:02x?}"
        ),
        other => panic!("expected error {code} for {request:02x?}, got {other:?}"),
    }
    client.round_trip().expect("the connection still works");
}

fn reply(client: &mut RawClient, request: &[u8]) -> Vec<u8> {
    client.send(request).expect("send");
    match client.read_packet().expect("the server answers") {
        Packet::Reply(bytes) => bytes,
        other => panic!("expected a reply to {request:02x?}, got {other:?}"),
    }
}

fn lengths(client: &mut RawClient, opcode: u8) {
    let order = client.order();
    let query = ext::Request::QueryVersion {
        client_major: 1,
        client_minor: 0,
    }
    .encode(opcode, order);
    for units in [0, 1, 2, 4, 64] {
        let bad = with_length(query.clone(), order, units);
        expect_error(client, &bad, BAD_LENGTH, opcode, 0);
    }
    let mut unknown = query.clone();
    unknown[1] = 200;
    expect_error(client, &unknown, BAD_REQUEST, opcode, 200);

    let watch = ext::Request::Watch(WatchRequest::defaults()).encode(opcode, order);
    for units in [0, 1, 6, 8] {
        let bad = with_length(watch.clone(), order, units);
        expect_error(client, &bad, BAD_LENGTH, opcode, 1);
    }
    // A service name of 8 bytes in a request with room for none.
    let mut no_room = watch.clone();
    no_room[24..26].copy_from_slice(&order.u16_bytes(8));
    expect_error(client, &no_room, BAD_LENGTH, opcode, 1);
    for (request, minor) in [(ext::Request::Unwatch, 2), (ext::Request::ListClients, 3)] {
        let long = with_length(request.encode(opcode, order), order, 2);
        expect_error(client, &long, BAD_LENGTH, opcode, minor);
    }
}

fn watch_values(client: &mut RawClient, opcode: u8) {
    let order = client.order();
    // 300 bytes of name, in a request exactly long enough for them: too long a name.
    let mut long_name = ext::Request::Watch(WatchRequest::defaults()).encode(opcode, order);
    long_name.resize(28 + 300, b'n');
    long_name[2..4].copy_from_slice(&order.u16_bytes(82));
    long_name[24..26].copy_from_slice(&order.u16_bytes(300));
    expect_error(client, &long_name, BAD_VALUE, opcode, 1);
    // A name that is not UTF-8.
    let mut not_utf8 = ext::Request::Watch(WatchRequest {
        service: "ab".into(),
        ..WatchRequest::defaults()
    })
    .encode(opcode, order);
    not_utf8[28..30].copy_from_slice(&[0xFF, 0xFE]);
    expect_error(client, &not_utf8, BAD_VALUE, opcode, 1);
    for asked in [
        WatchRequest {
            flags: 0x80,
            ..WatchRequest::defaults()
        },
        WatchRequest {
            expect_noop_ms: 5,
            ..WatchRequest::defaults()
        },
    ] {
        let bad = ext::Request::Watch(asked).encode(opcode, order);
        expect_error(client, &bad, BAD_VALUE, opcode, 1);
    }
}

/// Opts in with a name of more than one byte per character, lists, opts out, all in the
/// client's order.
fn opt_in_and_out(client: &mut RawClient, opcode: u8) {
    let order = client.order();
    let service = format!("raw-{order:?}-\u{fc}\u{3b1}");
    let watch = ext::Request::Watch(WatchRequest {
        idle_timeout_ms: 600_000,
        service: service.clone(),
        ..WatchRequest::defaults()
    });
    client
        .send(&watch.encode(opcode, order))
        .expect("send Watch");
    let listed = list(client, &ext::Request::ListClients.encode(opcode, order));
    assert!(
        listed
            .iter()
            .any(|e| e.client.service.as_deref() == Some(&service)),
        "{service} not in {listed:?}"
    );
    client
        .send(&ext::Request::Unwatch.encode(opcode, order))
        .expect("send Unwatch");
    client
        .round_trip()
        .expect("Unwatch is answered by no error");
}

fn list(client: &mut RawClient, request: &[u8]) -> Vec<StatusEntry> {
    let bytes = reply(client, request);
    let json = ListClientsReply::parse(&bytes, client.order())
        .expect("a ListClients reply")
        .json;
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("bad JSON {json:?}: {e}"))
}

/// The same requests with a 32-bit length: the server moves the header over the extra
/// word, so the module sees a request of the length the client meant.
fn big_requests(client: &mut RawClient, opcode: u8) {
    let order = client.order();
    let big_opcode = client
        .query_extension("BIG-REQUESTS")
        .expect("QueryExtension")
        .expect("BIG-REQUESTS present");
    let mut enable = vec![big_opcode, 0];
    enable.extend_from_slice(&order.u16_bytes(1));
    reply(client, &enable);
    let big = |request: ext::Request, extra: usize| {
        let small = request.encode(opcode, order);
        let units = u32::try_from(small.len() / 4 + 1 + extra).expect("short");
        let mut out = small[..2].to_vec();
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&order.u32_bytes(units));
        out.extend_from_slice(&small[4..]);
        out.resize(units as usize * 4, 0xCD);
        out
    };
    let query = || ext::Request::QueryVersion {
        client_major: 1,
        client_minor: 0,
    };
    let answer = reply(client, &big(query(), 0));
    assert_eq!(
        QueryVersionReply::parse(&answer, order),
        Ok(QueryVersionReply {
            major: ext::MAJOR_VERSION,
            minor: ext::MINOR_VERSION
        })
    );
    list(client, &big(ext::Request::ListClients, 0));
    expect_error(client, &big(query(), 1), BAD_LENGTH, opcode, 0);
    expect_error(
        client,
        &big(ext::Request::ListClients, 5),
        BAD_LENGTH,
        opcode,
        3,
    );
    let watch = ext::Request::Watch(WatchRequest::defaults());
    expect_error(client, &big(watch, 3), BAD_LENGTH, opcode, 1);
}

/// A ping answer nobody asked for goes on to the server; one of the wrong length is the
/// server's BadLength.
fn fake_pongs(client: &mut RawClient) {
    let order = client.order();
    let wm_protocols = intern(client, "WM_PROTOCOLS");
    let net_wm_ping = intern(client, "_NET_WM_PING");
    let mut send_event = vec![SEND_EVENT, 0];
    send_event.extend_from_slice(&order.u16_bytes(11));
    send_event.extend_from_slice(&order.u32_bytes(1)); // InputFocus
    send_event.extend_from_slice(&order.u32_bytes(0)); // no event mask
    let mut event = vec![33, 32, 0, 0];
    for word in [1, wm_protocols, net_wm_ping, 0x7E57_0001, 1, 0, 0] {
        event.extend_from_slice(&order.u32_bytes(word));
    }
    send_event.extend_from_slice(&event);
    client.send(&send_event).expect("send SendEvent");
    client
        .round_trip()
        .expect("an unasked-for answer is the server's");
    let long = with_length(send_event, order, 12);
    expect_error(client, &long, BAD_LENGTH, SEND_EVENT, 0);
}

fn intern(client: &mut RawClient, name: &str) -> u32 {
    let order = client.order();
    let padded = name.len().div_ceil(4) * 4;
    let mut request = vec![16, 0];
    request.extend_from_slice(&order.u16_bytes(u16::try_from(2 + padded / 4).expect("short")));
    request.extend_from_slice(&order.u16_bytes(u16::try_from(name.len()).expect("short")));
    request.extend_from_slice(&[0, 0]);
    request.extend_from_slice(name.as_bytes());
    request.resize(8 + padded, 0);
    let bytes = reply(client, &request);
    order.read_u32([bytes[8], bytes[9], bytes[10], bytes[11]])
}
