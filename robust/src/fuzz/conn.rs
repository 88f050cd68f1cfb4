//! A fuzzing connection: a thread writes a segment while this one reads the answers and
//! holds each against what the oracle said. Reading while writing matters: a stream of
//! requests that all get errors would otherwise fill the socket both ways.

use super::oracle::{Expect, error_name};
use super::segment::{Pending, Segment};
use super::tally::Tally;
use lifesign_proto::ByteOrder;
use lifesign_proto::event::{ClientInfo, StatusEntry};
use lifesign_proto::ext::{ListClientsReply, MAJOR_VERSION, MINOR_VERSION, QueryVersionReply};
use lifesign_tests::raw::RawClient;
use std::io;
use std::sync::{Arc, mpsc};
use std::thread;

pub struct FuzzConn {
    client: RawClient,
    pub order: ByteOrder,
    pub major: u8,
    /// The code of `LifesignNotify`: a SelectEvents the fuzzer sent may subscribe the
    /// connection, and the events that follow are the server's due, not a wrong answer.
    first_event: u8,
    /// The server's maximum request length in units, with BIG-REQUESTS on.
    pub big: Option<u32>,
    /// Requests the server has counted on this connection.
    pub seq: u64,
    /// The connection's id as the module names it.
    pub id: String,
    pub watched: bool,
}

/// How a segment ended.
pub enum End {
    /// Our round trip came back: every answer was read.
    Synced,
    /// The server closed the connection after the request that must close it.
    Closed,
    /// The connection failed otherwise.
    Broken(String),
}

impl FuzzConn {
    pub fn open(display: u32, order: ByteOrder, big: bool) -> io::Result<Self> {
        let mut client = RawClient::connect(display, order)?;
        let (major, first_event) = client
            .extension("LIFESIGN")?
            .ok_or_else(|| io::Error::other("the server has no LIFESIGN"))?;
        let mut seq = 1;
        let big = if big {
            seq += 2; // QueryExtension and BigReqEnable
            Some(
                client
                    .enable_big_requests()?
                    .ok_or_else(|| io::Error::other("the server has no BIG-REQUESTS"))?,
            )
        } else {
            None
        };
        Ok(Self {
            id: ClientInfo::format_id(client.resource_id_base()),
            client,
            order,
            major,
            first_event,
            big,
            seq,
            watched: false,
        })
    }

    /// Sends `segment` and checks every answer; `bystander` is the id every ListClients
    /// reply must list.
    pub fn run(&mut self, segment: Segment, tally: &mut Tally, bystander: &str) -> End {
        let segment = Arc::new(segment);
        let mut writer = match self.client.try_clone() {
            Ok(w) => w,
            Err(e) => return End::Broken(format!("cannot clone the connection: {e}")),
        };
        let sending = Arc::clone(&segment);
        let (go, ready) = mpsc::channel::<()>();
        let written = thread::spawn(move || -> io::Result<()> {
            let split = sending.close_at.unwrap_or(sending.wire.len());
            writer.send(&sending.wire[..split])?;
            // The closing request waits for the reader (it gives up: so does the writer).
            if split < sending.wire.len() && ready.recv().is_ok() {
                writer.send(&sending.wire[split..])?;
            }
            Ok(())
        });
        tally.bytes += segment.wire.len() as u64;
        let end = self.read_answers(&segment, tally, bystander, go);
        if let End::Synced = end {
            // The server answered our last request, so it read everything: the writer is
            // done. On other ends it may be blocked, and is left to fail by itself.
            match written.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return End::Broken(format!("writing: {e}")),
                Err(_) => return End::Broken("the writer panicked".into()),
            }
            self.seq = segment.pending.last().map_or(self.seq, |p| p.seq);
        }
        end
    }

    /// Reads and judges the answers; `go` tells the writer every answer before a closing
    /// request is in.
    fn read_answers(
        &mut self,
        segment: &Segment,
        tally: &mut Tally,
        bystander: &str,
        go: mpsc::Sender<()>,
    ) -> End {
        let pending = &segment.pending;
        let mut next = 0;
        let mismatches = tally.mismatches;
        // The last request that has an answer: after it, only silence is owed.
        let answered = pending.iter().rposition(|p| p.expect.answered());
        let mut go = Some(go);
        loop {
            if answered.is_none_or(|last| next > last)
                && let Some(go) = go.take()
            {
                let _ = go.send(());
            }
            if tally.mismatches > mismatches + 1000 {
                return End::Broken("more than 1000 wrong answers in one segment".into());
            }
            let packet = match self.client.read_raw() {
                Ok(p) => p,
                Err(e) if segment.closes() && closed(&e) => {
                    self.skip(segment, next, pending.len(), tally);
                    return End::Closed;
                }
                Err(e) => return End::Broken(format!("reading answers: {e}")),
            };
            if packet[0] == self.first_event {
                continue;
            }
            if packet[0] > 1 {
                tally.mismatch(format!("an event on the fuzzing connection: {packet:02x?}"));
                continue;
            }
            let seq = self.order.read_u16([packet[2], packet[3]]);
            let Some(k) = pending[next..].iter().position(|p| p.seq as u16 == seq) else {
                tally.mismatch(format!(
                    "{} with sequence {seq}, which no request of ours has",
                    self.describe(&packet)
                ));
                continue;
            };
            self.skip(segment, next, next + k, tally);
            let p = &pending[next + k];
            next += k + 1;
            if packet[0] == 0 {
                *tally.errors.entry(packet[1]).or_default() += 1;
            }
            match self.judge(&packet, p, bystander) {
                Ok(()) => match p.expect {
                    Expect::Version => tally.versions += 1,
                    Expect::List => tally.lists += 1,
                    _ => {}
                },
                Err(why) => tally.mismatch(format!(
                    "request {} ({}): {why}",
                    p.seq,
                    request_hex(segment, p)
                )),
            }
            if p.expect == Expect::Sync {
                return End::Synced;
            }
        }
    }

    /// Requests `from..to` got no answer: right for those that have none.
    fn skip(&self, segment: &Segment, from: usize, to: usize, tally: &mut Tally) {
        for p in &segment.pending[from..to] {
            if p.expect.answered() {
                tally.mismatch(format!(
                    "request {} ({}): no answer, expected {:?}",
                    p.seq,
                    request_hex(segment, p),
                    p.expect
                ));
            } else {
                tally.silent += 1;
            }
        }
    }

    fn judge(&self, packet: &[u8], p: &Pending, bystander: &str) -> Result<(), String> {
        let order = self.order;
        let u16_at = |at: usize| order.read_u16([packet[at], packet[at + 1]]);
        let u32_at = |at: usize| {
            order.read_u32([packet[at], packet[at + 1], packet[at + 2], packet[at + 3]])
        };
        let wrong = || format!("expected {:?}, got {}", p.expect, self.describe(packet));
        let is_reply = packet[0] == 1;
        match p.expect {
            Expect::Nothing { .. } => Err(wrong()),
            Expect::Sync if is_reply => Ok(()),
            Expect::Version if is_reply => match QueryVersionReply::parse(packet, order) {
                Ok(v)
                    if (v.major, v.minor) == (MAJOR_VERSION, MINOR_VERSION)
                        && packet.len() == 32 =>
                {
                    Ok(())
                }
                _ => Err(wrong()),
            },
            Expect::List if is_reply => {
                let json = ListClientsReply::parse(packet, order).map_err(|e| e.to_string())?;
                let list: Vec<StatusEntry> = serde_json::from_str(&json.json)
                    .map_err(|e| format!("ListClients JSON: {e}: {}", json.json))?;
                let listed = |id: &str| list.iter().any(|e| e.client.id == id);
                if !listed(bystander) {
                    return Err(format!("ListClients lacks the bystander: {}", json.json));
                }
                if listed(&self.id) != p.watched {
                    return Err(format!(
                        "ListClients shows this connection {} while it is {}: {}",
                        if listed(&self.id) { "" } else { "not" },
                        if p.watched { "watched" } else { "not watched" },
                        json.json
                    ));
                }
                Ok(())
            }
            Expect::Error { code, minor, value } if !is_reply => {
                let opcodes_right =
                    minor.is_none_or(|m| packet[10] == self.major && u16_at(8) == u16::from(m));
                let value_right = value.is_none_or(|v| u32_at(4) == v);
                if packet[1] == code && opcodes_right && value_right {
                    Ok(())
                } else {
                    Err(wrong())
                }
            }
            _ => Err(wrong()),
        }
    }

    fn describe(&self, packet: &[u8]) -> String {
        let order = self.order;
        match packet[0] {
            0 => format!(
                "error {} (major {}, minor {}, value {:#x})",
                error_name(packet[1]),
                packet[10],
                order.read_u16([packet[8], packet[9]]),
                order.read_u32([packet[4], packet[5], packet[6], packet[7]])
            ),
            1 => format!("a reply of {} bytes", packet.len()),
            _ => format!("event {}", packet[0]),
        }
    }
}

/// The request's first bytes on the wire, for a report.
fn request_hex(segment: &Segment, p: &Pending) -> String {
    let bytes = &segment.wire[p.at..p.at + p.len.min(48)];
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{} bytes: {hex}{}",
        p.len,
        if p.len > 48 { "..." } else { "" }
    )
}

/// The end of a connection the server closed: end of file, or a reset (the kernel's answer
/// when the server closed with our bytes unread).
fn closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}
