//! The LIFESIGN requests over an x11rb connection, encoded by `lifesign-proto`.

use lifesign_proto::ByteOrder;
use lifesign_proto::event::StatusEntry;
use lifesign_proto::ext::{self, ListClientsReply, QueryVersionReply, WatchRequest};
use lifesign_proto::notify::Notify;
use std::io::IoSlice;
use std::time::Duration;
use x11rb::connection::RequestConnection;
use x11rb::cookie::VoidCookie;
use x11rb::errors::{ConnectionError, ParseError, ReplyError};
use x11rb::protocol::Event;
use x11rb::x11_utils::TryParse;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the X server has no LIFESIGN extension (is liblifesign loaded?)")]
    Absent,
    #[error("X connection: {0}")]
    Connection(#[from] ConnectionError),
    #[error("X error: {0}")]
    Reply(#[from] ReplyError),
    #[error("the server's ListClients reply is not the expected JSON: {0}")]
    BadList(String),
    #[error(
        "the server refuses a host-scope pulse from this host: its HostScope option must name \
         this host's address (or be all)"
    )]
    HostScopeRefused,
    #[error("the server's LIFESIGN is {major}.{minor}; {what} needs 1.{needs}")]
    Unsupported {
        what: &'static str,
        major: u32,
        minor: u32,
        needs: u32,
    },
}

/// The extension on one server: its major opcode and first event.
#[derive(Clone, Copy, Debug)]
pub struct Lifesign {
    opcode: u8,
    first_event: u8,
}

/// A client's own deadlines and name, for [`Lifesign::watch`]. What is not set is the
/// server's option; a duration of zero turns that deadline off.
#[derive(Clone, Debug)]
pub struct Policy(WatchRequest);

impl Default for Policy {
    fn default() -> Self {
        Self(WatchRequest::defaults())
    }
}

fn ms(d: Duration) -> u32 {
    // The server refuses what its options could not hold either; u32::MAX is "default".
    u32::try_from(d.as_millis())
        .unwrap_or(u32::MAX - 1)
        .min(u32::MAX - 1)
}

impl From<WatchRequest> for Policy {
    /// A request as it is, values out of range included (the server judges them).
    fn from(request: WatchRequest) -> Self {
        Self(request)
    }
}

impl Policy {
    /// A heartbeat: NoOperation expected at least every `expect`, nothing else changed.
    pub fn pulse(expect: Duration) -> Self {
        Self::default().expect_no_operation(expect)
    }

    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.0.idle_timeout_ms = ms(d);
        self
    }

    pub fn expect_no_operation(mut self, d: Duration) -> Self {
        self.0.expect_noop_ms = ms(d);
        self
    }

    pub fn wm_ping(mut self, d: Duration) -> Self {
        self.0.wm_ping_ms = ms(d);
        self
    }

    pub fn transport_timeout(mut self, d: Duration) -> Self {
        self.0.transport_timeout_ms = ms(d);
        self
    }

    /// The repaint probe's interval for this client (LIFESIGN 1.1: a 1.0 server answers
    /// such a Watch with BadLength).
    pub fn repaint_probe(mut self, d: Duration) -> Self {
        self.0.repaint_probe_ms = ms(d);
        self
    }

    /// How long this client has to answer a repaint probe (LIFESIGN 1.1).
    pub fn repaint_probe_timeout(mut self, d: Duration) -> Self {
        self.0.repaint_probe_timeout_ms = ms(d);
        self
    }

    /// The heartbeat stands for the whole host: when it stops, every watched client from
    /// the same peer address is lost (`host-pulse-lost`).
    pub fn host_scope(mut self) -> Self {
        self.0.flags |= ext::flags::HOST_SCOPE;
        self
    }

    /// The service name the launcher can match (at most 255 bytes of UTF-8; longer is cut
    /// at a character boundary).
    pub fn service(mut self, name: &str) -> Self {
        let mut end = name.len().min(ext::MAX_SERVICE_LEN);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        self.0.service = name[..end].to_owned();
        self
    }

    pub fn request(&self) -> &WatchRequest {
        &self.0
    }
}

struct VersionReply(QueryVersionReply);

impl TryParse for VersionReply {
    fn try_parse(value: &[u8]) -> Result<(Self, &[u8]), ParseError> {
        let reply = QueryVersionReply::parse(value, ByteOrder::native())
            .map_err(|_| ParseError::InvalidValue)?;
        Ok((Self(reply), &value[32..]))
    }
}

struct ListReply(ListClientsReply);

impl TryParse for ListReply {
    fn try_parse(value: &[u8]) -> Result<(Self, &[u8]), ParseError> {
        let reply = ListClientsReply::parse(value, ByteOrder::native())
            .map_err(|_| ParseError::InvalidValue)?;
        Ok((Self(reply), &[]))
    }
}

impl Lifesign {
    /// The extension on `conn`'s server, or [`Error::Absent`].
    pub fn new(conn: &impl RequestConnection) -> Result<Self, Error> {
        let info = conn.extension_information(ext::EXTENSION_NAME)?;
        info.map(|i| Self {
            opcode: i.major_opcode,
            first_event: i.first_event,
        })
        .ok_or(Error::Absent)
    }

    pub fn major_opcode(&self) -> u8 {
        self.opcode
    }

    fn encode(&self, request: &ext::Request) -> Vec<u8> {
        request.encode(self.opcode, ByteOrder::native())
    }

    /// QueryVersion: the version the server speaks.
    pub fn query_version(&self, conn: &impl RequestConnection) -> Result<QueryVersionReply, Error> {
        let bytes = self.encode(&ext::Request::QueryVersion {
            client_major: ext::MAJOR_VERSION,
            client_minor: ext::MINOR_VERSION,
        });
        let reply = conn
            .send_request_with_reply::<VersionReply>(&[IoSlice::new(&bytes)], Vec::new())?
            .reply()?;
        Ok(reply.0)
    }

    /// Fails with [`Error::Unsupported`] if the server speaks an older minor version than
    /// `needs` (a request added later would get BadRequest or BadLength).
    fn require(
        &self,
        conn: &impl RequestConnection,
        needs: u32,
        what: &'static str,
    ) -> Result<(), Error> {
        let v = self.query_version(conn)?;
        if (v.major, v.minor) < (ext::MAJOR_VERSION, needs) {
            return Err(Error::Unsupported {
                what,
                major: v.major,
                minor: v.minor,
                needs,
            });
        }
        Ok(())
    }

    /// Watch: opt in (or change this client's own policy); checked, so a bad value is an
    /// error here. A repaint probe of the client's own needs LIFESIGN 1.1: against an older
    /// server it is [`Error::Unsupported`], before anything is sent.
    pub fn watch(&self, conn: &impl RequestConnection, policy: &Policy) -> Result<(), Error> {
        let r = &policy.0;
        if r.repaint_probe_ms != ext::DEFAULT || r.repaint_probe_timeout_ms != ext::DEFAULT {
            self.require(conn, 1, "a repaint probe of the client's own")?;
        }
        match self.send_watch(conn, policy)?.check() {
            Err(ReplyError::X11Error(e))
                if e.error_kind == x11rb::protocol::ErrorKind::Access
                    && policy.0.flags & ext::flags::HOST_SCOPE != 0 =>
            {
                Err(Error::HostScopeRefused)
            }
            result => Ok(result?),
        }
    }

    /// Watch, sent and not waited for: the server answers only with an error, which the
    /// cookie's `check` returns.
    pub fn send_watch<'c, C: RequestConnection>(
        &self,
        conn: &'c C,
        policy: &Policy,
    ) -> Result<VoidCookie<'c, C>, Error> {
        let bytes = self.encode(&ext::Request::Watch(policy.0.clone()));
        Ok(conn.send_request_without_reply(&[IoSlice::new(&bytes)], Vec::new())?)
    }

    /// Unwatch: this client is not watched any more.
    pub fn unwatch(&self, conn: &impl RequestConnection) -> Result<(), Error> {
        let bytes = self.encode(&ext::Request::Unwatch);
        conn.send_request_without_reply(&[IoSlice::new(&bytes)], Vec::new())?
            .check()?;
        Ok(())
    }

    /// SelectEvents (LIFESIGN 1.2): from now on this connection gets a `LifesignNotify` for
    /// each event of a kind in `mask` ([`crate::Kind::bit`], [`crate::ALL_KINDS`]) of every
    /// watched client the server's `ListClients` option lets it see; 0 stops them. Read them
    /// with [`Lifesign::parse_event`]. Against a server before 1.2 it is
    /// [`Error::Unsupported`], and nothing is sent.
    pub fn select_events(&self, conn: &impl RequestConnection, mask: u32) -> Result<(), Error> {
        self.require(conn, 2, "SelectEvents")?;
        let bytes = self.encode(&ext::Request::SelectEvents { mask });
        conn.send_request_without_reply(&[IoSlice::new(&bytes)], Vec::new())?
            .check()?;
        Ok(())
    }

    /// The `LifesignNotify` in an event of this connection, or `None` for any other event.
    pub fn parse_event(&self, event: &Event) -> Option<Notify> {
        let Event::Unknown(bytes) = event else {
            return None;
        };
        // The top bit marks an event another client sent (SendEvent): not the server's.
        if *bytes.first()? != self.first_event {
            return None;
        }
        Notify::parse(bytes, ByteOrder::native())
    }

    /// ListClients: the watched clients, as `lifesign status --json` prints them.
    pub fn list_clients(&self, conn: &impl RequestConnection) -> Result<Vec<StatusEntry>, Error> {
        let json = self.list_clients_json(conn)?;
        serde_json::from_str(&json).map_err(|e| Error::BadList(e.to_string()))
    }

    /// ListClients' JSON as the server sent it (with any field a newer server adds).
    pub fn list_clients_json(&self, conn: &impl RequestConnection) -> Result<String, Error> {
        let bytes = self.encode(&ext::Request::ListClients);
        let reply = conn
            .send_request_with_reply::<ListReply>(&[IoSlice::new(&bytes)], Vec::new())?
            .reply()?;
        Ok(reply.0.json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_sets_what_it_names_and_leaves_the_rest_to_the_server() {
        let p = Policy::pulse(Duration::from_secs(3))
            .host_scope()
            .service("plant-view");
        let r = p.request();
        assert_eq!(r.expect_noop_ms, 3000);
        assert_eq!(r.idle_timeout_ms, ext::DEFAULT);
        assert_eq!(r.flags & ext::flags::HOST_SCOPE, ext::flags::HOST_SCOPE);
        assert_eq!(r.service, "plant-view");
        assert_eq!(
            Policy::default()
                .idle_timeout(Duration::ZERO)
                .request()
                .idle_timeout_ms,
            0
        );
    }

    #[test]
    fn a_long_service_name_is_cut_at_a_character() {
        let long = "é".repeat(200);
        let cut = Policy::default().service(&long);
        assert!(cut.request().service.len() <= ext::MAX_SERVICE_LEN);
        assert!(cut.request().service.chars().all(|c| c == 'é'));
    }
}
