//! Malformed LIFESIGN requests, as a hostile or broken client sends them.

use crate::lifesign;
use crate::raw::{Packet, RawClient};
use crate::server::Server;
use lifesign_proto::ByteOrder;
use lifesign_proto::ext::{self, QueryVersionReply};
use x11rb::protocol::xproto::ConnectionExt as _;

const BAD_REQUEST: u8 = 1;
const BAD_LENGTH: u8 = 16;
const ORDERS: [ByteOrder; 2] = [ByteOrder::LsbFirst, ByteOrder::MsbFirst];

/// A QueryVersion whose length field says `units` and which carries `units * 4` bytes
/// (at least the 4-byte header, as the server always reads one).
fn query_version(opcode: u8, order: ByteOrder, units: u16) -> Vec<u8> {
    let mut bytes = ext::Request::QueryVersion {
        client_major: 1,
        client_minor: 0,
    }
    .encode(opcode, order);
    bytes.resize(usize::from(units.max(1)) * 4, 0xAB);
    bytes[2..4].copy_from_slice(&order.u16_bytes(units));
    bytes
}

fn expect_error(client: &mut RawClient, code: u8, opcode: u8, minor: u16) {
    match client.read_packet().expect("the server answers") {
        Packet::Error {
            code: got,
            major,
            minor: got_minor,
        } => assert_eq!((got, major, got_minor), (code, opcode, minor)),
        other => panic!("expected error {code}, got {other:?}"),
    }
}

/// Malformed LIFESIGN requests in both byte orders each get their X error, and the server
/// keeps serving that client and a bystander.
pub fn check(server: &Server) {
    // A bystander on x11rb, to show other clients are not affected.
    let bystander = server.connect();
    for order in ORDERS {
        let mut client = RawClient::connect(server.display_number(), order).unwrap();
        let opcode = client
            .query_extension("LIFESIGN")
            .unwrap()
            .expect("LIFESIGN present");

        // The well-formed request works in this byte order, and the reply is in it too.
        client.send(&query_version(opcode, order, 3)).unwrap();
        match client.read_packet().unwrap() {
            Packet::Reply(bytes) => assert_eq!(
                QueryVersionReply::parse(&bytes, order),
                Ok(QueryVersionReply {
                    major: ext::MAJOR_VERSION,
                    minor: ext::MINOR_VERSION
                })
            ),
            other => panic!("expected a reply, got {other:?}"),
        }

        // Short, long, zero length: BadLength, and the connection still works.
        for units in [1, 2, 4, 64, 0] {
            client.send(&query_version(opcode, order, units)).unwrap();
            expect_error(&mut client, BAD_LENGTH, opcode, 0);
            client.round_trip().unwrap();
        }

        // An opcode the extension does not have: BadRequest.
        let mut unknown = query_version(opcode, order, 3);
        unknown[1] = 200;
        client.send(&unknown).unwrap();
        expect_error(&mut client, BAD_REQUEST, opcode, 200);
        client.round_trip().unwrap();

        bystander.get_input_focus().unwrap().reply().unwrap();
        assert_eq!(lifesign::query_version(&bystander).major, 1);
    }
}
