//! The replies as a client decodes them: `QueryVersionReply::parse` and
//! `ListClientsReply::parse`, in both byte orders, and the JSON of ListClients as the CLI
//! reads it (`Vec<StatusEntry>`).
//!
//! Input: the low bit of byte 0 is the byte order, the next bit which reply; the rest is the
//! reply as the client received it.

use crate::order;
use lifesign_proto::ByteOrder;
use lifesign_proto::event::StatusEntry;
use lifesign_proto::ext::{ListClientsReply, QueryVersionReply, ReplyError};

pub fn check(data: &[u8]) {
    let [choice, bytes @ ..] = data else {
        return;
    };
    let order = order(*choice);
    if choice & 2 == 0 {
        query_version(bytes, order);
    } else {
        list_clients(bytes, order);
    }
}

fn sequence(bytes: &[u8], order: ByteOrder) -> u16 {
    order.read_u16([bytes[2], bytes[3]])
}

fn refused(error: ReplyError, bytes: &[u8]) {
    match error {
        ReplyError::Length { expected, actual } => {
            assert_eq!(actual, bytes.len());
            assert!(expected > actual);
        }
        ReplyError::NotAReply(first) => {
            assert_eq!(first, bytes[0]);
            assert_ne!(first, 1);
        }
    }
}

fn query_version(bytes: &[u8], order: ByteOrder) {
    match QueryVersionReply::parse(bytes, order) {
        Ok(reply) => {
            // The fields it has are the bytes it read, and encode back to them.
            let encoded = reply.encode(sequence(bytes, order), order);
            assert_eq!(encoded[..8], [1, 0, bytes[2], bytes[3], 0, 0, 0, 0]);
            assert_eq!(encoded[8..16], bytes[8..16]);
            assert_eq!(QueryVersionReply::parse(&encoded, order), Ok(reply));
        }
        Err(e) => refused(e, bytes),
    }
}

fn list_clients(bytes: &[u8], order: ByteOrder) {
    match ListClientsReply::parse(bytes, order) {
        Ok(reply) => {
            let len = order.read_u32([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
            let body = &bytes[32..32 + len];
            if let Ok(text) = std::str::from_utf8(body) {
                assert_eq!(reply.json, text, "the JSON is the body as sent");
            }
            let encoded = reply.encode(sequence(bytes, order), order);
            assert_eq!(encoded.len() % 4, 0);
            let units = order.read_u32([encoded[4], encoded[5], encoded[6], encoded[7]]);
            assert_eq!(32 + units as usize * 4, encoded.len(), "the reply length");
            assert_eq!(
                ListClientsReply::parse(&encoded, order).as_ref(),
                Ok(&reply)
            );
            status_entries(&reply.json);
        }
        Err(e) => refused(e, bytes),
    }
}

/// What the CLI makes of the JSON prints and reads back the same.
fn status_entries(json: &str) {
    let Ok(entries) = serde_json::from_str::<Vec<StatusEntry>>(json) else {
        return;
    };
    let text = serde_json::to_string(&entries).expect("status entries serialize");
    let again: Vec<StatusEntry> = serde_json::from_str(&text).expect("printed JSON parses");
    assert_eq!(again, entries);
}
