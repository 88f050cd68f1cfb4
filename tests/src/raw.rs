//! A raw X connection over the server's Unix socket: it sends exactly the bytes a test gives
//! it, in either byte order, which no client library will do for a malformed request.

use lifesign_proto::ByteOrder;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A NoOperation request (opcode 127, length 1) in `order`.
pub fn no_operation(order: ByteOrder) -> [u8; 4] {
    let [a, b] = order.u16_bytes(1);
    [127, 0, a, b]
}

/// A packet the server sent: a reply, an error or an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Reply(Vec<u8>),
    Error { code: u8, major: u8, minor: u16 },
    Event(Vec<u8>),
}

/// Sets up an X connection on `stream` by hand in byte order `order`, with no authorization:
/// the connection setup and its reply, nothing else read. Returns the resource-id base.
pub fn set_up(stream: &mut (impl Read + Write), order: ByteOrder) -> io::Result<u32> {
    let mut setup = vec![
        match order {
            ByteOrder::LsbFirst => b'l',
            ByteOrder::MsbFirst => b'B',
        },
        0,
    ];
    setup.extend_from_slice(&order.u16_bytes(11));
    setup.extend_from_slice(&order.u16_bytes(0));
    setup.extend_from_slice(&[0; 6]); // no authorization
    stream.write_all(&setup)?;
    let mut head = [0u8; 8];
    stream.read_exact(&mut head)?;
    let extra = usize::from(order.read_u16([head[6], head[7]])) * 4;
    let mut rest = vec![0u8; extra];
    stream.read_exact(&mut rest)?;
    if head[0] != 1 {
        return Err(io::Error::other(format!(
            "connection refused: {}",
            String::from_utf8_lossy(&rest)
        )));
    }
    // The setup reply's body begins with release-number, then resource-id-base.
    Ok(order.read_u32([rest[4], rest[5], rest[6], rest[7]]))
}

pub struct RawClient {
    stream: UnixStream,
    order: ByteOrder,
    resource_id_base: u32,
}

impl RawClient {
    /// Connects to display `:display` declaring `order` as the client's byte order.
    pub fn connect(display: u32, order: ByteOrder) -> io::Result<Self> {
        let stream = UnixStream::connect(format!("/tmp/.X11-unix/X{display}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut client = Self {
            stream,
            order,
            resource_id_base: 0,
        };
        client.resource_id_base = set_up(&mut client.stream, order)?;
        Ok(client)
    }

    /// The client's resource-id-base, which names it in the module's events.
    pub fn resource_id_base(&self) -> u32 {
        self.resource_id_base
    }

    pub fn order(&self) -> ByteOrder {
        self.order
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The next packet from the server.
    pub fn read_packet(&mut self) -> io::Result<Packet> {
        let bytes = self.read_raw()?;
        let order = self.order;
        Ok(match bytes[0] {
            0 => Packet::Error {
                code: bytes[1],
                minor: order.read_u16([bytes[8], bytes[9]]),
                major: bytes[10],
            },
            1 => Packet::Reply(bytes),
            _ => Packet::Event(bytes),
        })
    }

    /// The next packet as the server sent it: 32 bytes, and a reply's additional length.
    /// For what [`Packet`] leaves out (an error's sequence number and bad value).
    pub fn read_raw(&mut self) -> io::Result<Vec<u8>> {
        let mut packet = vec![0u8; 32];
        self.stream.read_exact(&mut packet)?;
        if packet[0] == 1 {
            let extra = self
                .order
                .read_u32([packet[4], packet[5], packet[6], packet[7]])
                as usize;
            packet.resize(32 + extra * 4, 0);
            self.stream.read_exact(&mut packet[32..])?;
        }
        Ok(packet)
    }

    /// A second handle on the same connection, so that one thread can write while another
    /// reads (a server answering a long stream must not wait for the writer to finish).
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            stream: self.stream.try_clone()?,
            order: self.order,
            resource_id_base: self.resource_id_base,
        })
    }

    /// How long a read may wait for the server before it fails.
    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(timeout))
    }

    /// Enables BIG-REQUESTS on this connection: from now on a length field of 0 is followed
    /// by a 32-bit length. The server's maximum request length in 4-byte units, or `None`
    /// if it lacks the extension.
    pub fn enable_big_requests(&mut self) -> io::Result<Option<u32>> {
        let Some(opcode) = self.query_extension("BIG-REQUESTS")? else {
            return Ok(None);
        };
        let mut req = vec![opcode, 0];
        req.extend_from_slice(&self.order.u16_bytes(1));
        self.send(&req)?;
        match self.read_packet()? {
            Packet::Reply(r) => Ok(Some(self.order.read_u32([r[8], r[9], r[10], r[11]]))),
            other => Err(io::Error::other(format!("BigReqEnable answered {other:?}"))),
        }
    }

    /// Sends about `count` NoOperation requests (whole chunks of 16384) as fast as the socket
    /// takes them; returns how many were sent. The server's byte order does not matter: a
    /// NoOperation of length 1 reads the same in both.
    pub fn flood_no_operations(&mut self, count: usize) -> io::Result<usize> {
        const CHUNK: usize = 16_384;
        let chunk = no_operation(self.order).repeat(CHUNK);
        for _ in 0..count / CHUNK {
            self.send(&chunk)?;
        }
        Ok(count / CHUNK * CHUNK)
    }

    /// QueryExtension: the major opcode of `name`, or `None` if the server lacks it.
    pub fn query_extension(&mut self, name: &str) -> io::Result<Option<u8>> {
        Ok(self.extension(name)?.map(|(major, _)| major))
    }

    /// QueryExtension: the major opcode and first event of `name`, or `None` if the server
    /// lacks it.
    pub fn extension(&mut self, name: &str) -> io::Result<Option<(u8, u8)>> {
        let padded = name.len().div_ceil(4) * 4;
        let mut req = vec![98, 0];
        req.extend_from_slice(&self.order.u16_bytes(u16::try_from(2 + padded / 4).unwrap()));
        req.extend_from_slice(&self.order.u16_bytes(u16::try_from(name.len()).unwrap()));
        req.extend_from_slice(&[0, 0]);
        req.extend_from_slice(name.as_bytes());
        req.resize(8 + padded, 0);
        self.send(&req)?;
        match self.read_packet()? {
            Packet::Reply(r) => Ok((r[8] != 0).then_some((r[9], r[10]))),
            other => Err(io::Error::other(format!(
                "QueryExtension answered {other:?}"
            ))),
        }
    }

    /// GetInputFocus and its reply: proves the server still serves this connection.
    pub fn round_trip(&mut self) -> io::Result<()> {
        let mut req = vec![43, 0];
        req.extend_from_slice(&self.order.u16_bytes(1));
        self.send(&req)?;
        loop {
            match self.read_packet()? {
                Packet::Reply(_) => return Ok(()),
                Packet::Event(_) => continue,
                other => {
                    return Err(io::Error::other(format!(
                        "GetInputFocus answered {other:?}"
                    )));
                }
            }
        }
    }
}
