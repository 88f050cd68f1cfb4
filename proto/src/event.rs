//! Events from the module to the launcher, and acks back: one JSON object per line.
//!
//! The names of types and fields are the contract's (`../shared/product.md`, "Events").

use serde::{Deserialize, Serialize};

/// The version every message carries as `"v"`.
pub const VERSION: u32 = 1;

/// How the client reached the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Tcp6,
    Local,
}

/// Why a watched client was declared lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LostReason {
    IdleTimeout,
    NoopMissed,
    WmPingTimeout,
    RepaintTimeout,
    TransportTimeout,
    Reset,
    HostPulseLost,
}

impl LostReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdleTimeout => "idle-timeout",
            Self::NoopMissed => "noop-missed",
            Self::WmPingTimeout => "wm-ping-timeout",
            Self::RepaintTimeout => "repaint-timeout",
            Self::TransportTimeout => "transport-timeout",
            Self::Reset => "reset",
            Self::HostPulseLost => "host-pulse-lost",
        }
    }
}

/// Why a watched client went away by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GoneReason {
    /// Clean end of the connection.
    Closed,
    /// Another client killed it (XKillClient).
    Killed,
}

impl GoneReason {
    /// The contract's name, as in the event's `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Killed => "killed",
        }
    }
}

/// Who a client is, as every event about it says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// The client's resource-ID base, `"0x00a00000"`.
    pub id: String,
    pub index: u32,
    pub transport: Transport,
    /// `"10.1.2.3:51234"` (`"[fd00::5]:51234"` for tcp6), null for local clients.
    pub peer: Option<String>,
    pub pid: Option<u32>,
    pub command: Option<String>,
    /// The name the client declared through the extension.
    pub service: Option<String>,
    /// `[instance, class]` of its first top-level window.
    pub wm_class: Option<[String; 2]>,
}

/// The most bytes of a text the client itself chose (its command line, its WM_CLASS parts)
/// that an event carries. A client can set a WM_CLASS of megabytes; whole, it would make an
/// event line longer than the launcher takes (64 KiB, `lifesign_launcher::wire::MAX_LINE`),
/// and as the module sends a kept event again on each new connection, that one line would
/// hold up every later event, every other client's loss among them. With every such text at
/// most this long, the longest line is about a third of the launcher's bound, even with each
/// byte a control character that JSON writes as six.
pub const MAX_TEXT: usize = 1024;

impl ClientInfo {
    /// The contract's spelling of a resource-ID base.
    pub fn format_id(base: u32) -> String {
        format!("{base:#010x}")
    }

    /// `raw` as an event carries it: UTF-8 (invalid sequences replaced), cut to at most
    /// [`MAX_TEXT`] bytes at a character boundary. Reads no more of `raw` than it keeps.
    pub fn text(raw: &[u8]) -> String {
        let text = String::from_utf8_lossy(&raw[..raw.len().min(MAX_TEXT)]);
        let mut end = text.len().min(MAX_TEXT);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text[..end].to_owned()
    }
}

/// The server that sends the events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub display: String,
    pub pid: u32,
    pub started_ms: u64,
}

/// What an event says; `type` on the wire ([`Body::event_type`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Body {
    Hello {
        server: ServerInfo,
    },
    Watched {
        client: ClientInfo,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        replay: bool,
    },
    Suspect {
        client: ClientInfo,
        /// The deadline the client is half-way to.
        reason: LostReason,
        silent_ms: u64,
    },
    Lost {
        client: ClientInfo,
        reason: LostReason,
        silent_ms: u64,
    },
    Gone {
        client: ClientInfo,
        reason: GoneReason,
    },
    /// A client that was `suspect` showed a sign of life before its deadline.
    Recovered {
        client: ClientInfo,
        /// How long it had been silent.
        silent_ms: u64,
    },
    /// A connected client stopped being watched (it sent Unwatch).
    Unwatched {
        client: ClientInfo,
    },
    /// A watched client's identity fields changed after its `watched` event (its first
    /// top-level window's class became known, or it declared a service): the new `client`.
    Updated {
        client: ClientInfo,
    },
    /// Right after the replay that follows `hello`: the launcher now has the server's whole
    /// view, `count` clients.
    Replayed {
        count: u64,
    },
}

/// Which event a [`Body`] is, named as its `type` on the wire: the one list of the types this
/// version of the protocol has, for whoever checks or names a type without the body (the
/// launcher, before it decodes a line; its log lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    Hello,
    Watched,
    Suspect,
    Lost,
    Gone,
    Recovered,
    Unwatched,
    Updated,
    Replayed,
}

impl EventType {
    /// Every type, in the contract's order.
    pub const ALL: [Self; 9] = [
        Self::Hello,
        Self::Watched,
        Self::Suspect,
        Self::Lost,
        Self::Gone,
        Self::Recovered,
        Self::Unwatched,
        Self::Updated,
        Self::Replayed,
    ];

    /// The name on the wire, as serde writes a [`Body`]'s `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hello => "hello",
            Self::Watched => "watched",
            Self::Suspect => "suspect",
            Self::Lost => "lost",
            Self::Gone => "gone",
            Self::Recovered => "recovered",
            Self::Unwatched => "unwatched",
            Self::Updated => "updated",
            Self::Replayed => "replayed",
        }
    }

    /// The type a `type` names, or `None` for one this version does not have.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Body {
    /// Which event this is: its `type` on the wire.
    pub fn event_type(&self) -> EventType {
        match self {
            Self::Hello { .. } => EventType::Hello,
            Self::Watched { .. } => EventType::Watched,
            Self::Suspect { .. } => EventType::Suspect,
            Self::Lost { .. } => EventType::Lost,
            Self::Gone { .. } => EventType::Gone,
            Self::Recovered { .. } => EventType::Recovered,
            Self::Unwatched { .. } => EventType::Unwatched,
            Self::Updated { .. } => EventType::Updated,
            Self::Replayed { .. } => EventType::Replayed,
        }
    }

    /// The client the event is about (all but `hello`).
    pub fn client(&self) -> Option<&ClientInfo> {
        match self {
            Self::Hello { .. } | Self::Replayed { .. } => None,
            Self::Watched { client, .. }
            | Self::Suspect { client, .. }
            | Self::Lost { client, .. }
            | Self::Gone { client, .. }
            | Self::Recovered { client, .. }
            | Self::Unwatched { client }
            | Self::Updated { client } => Some(client),
        }
    }

    pub fn client_mut(&mut self) -> Option<&mut ClientInfo> {
        match self {
            Self::Hello { .. } | Self::Replayed { .. } => None,
            Self::Watched { client, .. }
            | Self::Suspect { client, .. }
            | Self::Lost { client, .. }
            | Self::Gone { client, .. }
            | Self::Recovered { client, .. }
            | Self::Unwatched { client }
            | Self::Updated { client } => Some(client),
        }
    }
}

/// One event line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub v: u32,
    pub seq: u64,
    pub at_ms: u64,
    #[serde(flatten)]
    pub body: Body,
}

impl Event {
    pub fn new(seq: u64, at_ms: u64, body: Body) -> Self {
        Self {
            v: VERSION,
            seq,
            at_ms,
            body,
        }
    }

    /// The event as one line of JSON, without the newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("events always serialize")
    }

    /// The line for the server log: the same JSON, with DEL and the C1 controls (U+007F to
    /// U+009F) written as `\u00XX`. serde_json leaves them raw, which is valid JSON, but the
    /// log layer (tracing-subscriber) rewrites them as `\x7f`/`\u{85}`, which is not; a
    /// client-chosen service name, command or class must not make the log unreadable.
    pub fn to_log_line(&self) -> String {
        escape_c1(&self.to_line())
    }

    pub fn client(&self) -> Option<&ClientInfo> {
        self.body.client()
    }
}

/// The deadlines of a watched client, as `lifesign status --json` shows them (0 is off).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInfo {
    pub idle_timeout_ms: u64,
    pub expect_noop_ms: u64,
    pub wm_ping_ms: u64,
    pub transport_timeout_ms: u64,
    /// Added with the repaint probe (LIFESIGN 1.1); 0 from a server without it.
    #[serde(default)]
    pub repaint_probe_ms: u64,
}

/// Where a watched client stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchState {
    Watching,
    Suspect,
}

/// One watched client, as ListClients returns it and `lifesign status --json` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEntry {
    #[serde(flatten)]
    pub client: ClientInfo,
    pub state: WatchState,
    pub idle_ms: u64,
    pub noop_age_ms: u64,
    pub policy: PolicyInfo,
}

/// The launcher's answer to an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Reply {
    Ack { seq: u64 },
}

/// `json` with every char in U+007F..=U+009F escaped. They can only occur inside strings
/// (JSON's structure is ASCII below U+007F), where `\u00XX` means the same char.
fn escape_c1(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if ('\u{7f}'..='\u{9f}').contains(&c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// A reply as it goes on the wire, with its version.
#[derive(Serialize, Deserialize)]
struct VersionedReply {
    v: u32,
    #[serde(flatten)]
    reply: Reply,
}

/// The launcher's answer to event `seq` (`{"v":1,"type":"ack","seq":N}`), with its newline.
pub fn ack_line(seq: u64) -> String {
    let ack = VersionedReply {
        v: VERSION,
        reply: Reply::Ack { seq },
    };
    let mut line = serde_json::to_string(&ack).expect("an ack always serializes");
    line.push('\n');
    line
}

/// The `seq` of an ack line from the launcher (`{"v":1,"type":"ack","seq":N}`), or `None`
/// for anything else: another version, another type, not JSON.
pub fn parse_reply(line: &[u8]) -> Option<u64> {
    let parsed: VersionedReply = serde_json::from_slice(line).ok()?;
    let Reply::Ack { seq } = parsed.reply;
    (parsed.v == VERSION).then_some(seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn client() -> ClientInfo {
        ClientInfo {
            id: ClientInfo::format_id(0x00a0_0000),
            index: 5,
            transport: Transport::Tcp,
            peer: Some("10.1.2.3:51234".into()),
            pid: None,
            command: None,
            service: Some("plant-view".into()),
            wm_class: Some(["xclock".into(), "XClock".into()]),
        }
    }

    #[test]
    fn a_clients_own_text_is_cut_to_the_bound_at_a_character() {
        assert_eq!(ClientInfo::text(b"xclock"), "xclock");
        assert_eq!(ClientInfo::text(&[b'x'; 100_000]).len(), MAX_TEXT);
        // A two-byte character across the bound is left out whole, not split.
        let mut raw = vec![b'x'; MAX_TEXT - 1];
        raw.extend("é".as_bytes());
        assert_eq!(ClientInfo::text(&raw), "x".repeat(MAX_TEXT - 1));
        // Invalid bytes, three bytes each once replaced, are cut to the bound too.
        let text = ClientInfo::text(&[0xff; 2 * MAX_TEXT]);
        assert!(
            text.len() <= MAX_TEXT && text.chars().all(|c| c == '\u{fffd}'),
            "{text}"
        );
    }

    #[test]
    fn lost_has_the_contract_fields() {
        let event = Event::new(
            7,
            1_700_000_000_000,
            Body::Lost {
                client: client(),
                reason: LostReason::IdleTimeout,
                silent_ms: 3012,
            },
        );
        let value: Value = serde_json::from_str(&event.to_line()).unwrap();
        assert_eq!(
            value,
            json!({
                "v": 1, "type": "lost", "seq": 7, "at_ms": 1_700_000_000_000u64,
                "reason": "idle-timeout", "silent_ms": 3012,
                "client": {
                    "id": "0x00a00000", "index": 5, "transport": "tcp",
                    "peer": "10.1.2.3:51234", "pid": null, "command": null,
                    "service": "plant-view", "wm_class": ["xclock", "XClock"]
                }
            })
        );
        assert_eq!(serde_json::from_value::<Event>(value).unwrap(), event);
    }

    #[test]
    fn every_reason_is_spelled_as_the_contract() {
        for (reason, text) in [
            (LostReason::IdleTimeout, "idle-timeout"),
            (LostReason::NoopMissed, "noop-missed"),
            (LostReason::WmPingTimeout, "wm-ping-timeout"),
            (LostReason::RepaintTimeout, "repaint-timeout"),
            (LostReason::TransportTimeout, "transport-timeout"),
            (LostReason::Reset, "reset"),
            (LostReason::HostPulseLost, "host-pulse-lost"),
        ] {
            assert_eq!(serde_json::to_value(reason).unwrap(), json!(text));
            assert_eq!(reason.as_str(), text);
        }
        for (reason, text) in [
            (GoneReason::Closed, "closed"),
            (GoneReason::Killed, "killed"),
        ] {
            assert_eq!(serde_json::to_value(reason).unwrap(), json!(text));
            assert_eq!(reason.as_str(), text);
        }
        assert_eq!(
            serde_json::to_value(GoneReason::Killed).unwrap(),
            json!("killed")
        );
    }

    /// One body of every type. The `match` below stops compiling when `Body` gains a variant,
    /// so that one is added here, and the test below then asks for it in `EventType::ALL`.
    fn one_of_each() -> Vec<Body> {
        let bodies = vec![
            Body::Hello {
                server: ServerInfo {
                    display: ":0".into(),
                    pid: 1,
                    started_ms: 2,
                },
            },
            Body::Watched {
                client: client(),
                replay: false,
            },
            Body::Suspect {
                client: client(),
                reason: LostReason::Reset,
                silent_ms: 1,
            },
            Body::Lost {
                client: client(),
                reason: LostReason::Reset,
                silent_ms: 1,
            },
            Body::Gone {
                client: client(),
                reason: GoneReason::Closed,
            },
            Body::Recovered {
                client: client(),
                silent_ms: 1,
            },
            Body::Unwatched { client: client() },
            Body::Updated { client: client() },
            Body::Replayed { count: 3 },
        ];
        for body in &bodies {
            match body {
                Body::Hello { .. }
                | Body::Watched { .. }
                | Body::Suspect { .. }
                | Body::Lost { .. }
                | Body::Gone { .. }
                | Body::Recovered { .. }
                | Body::Unwatched { .. }
                | Body::Updated { .. }
                | Body::Replayed { .. } => {}
            }
        }
        bodies
    }

    #[test]
    fn every_type_is_named_as_serde_writes_it() {
        let bodies = one_of_each();
        let types: Vec<EventType> = bodies.iter().map(Body::event_type).collect();
        assert_eq!(types, EventType::ALL, "one body of each type, in order");
        for body in &bodies {
            let line = Event::new(1, 2, body.clone()).to_line();
            let value: Value = serde_json::from_str(&line).unwrap();
            let name = body.event_type().as_str();
            assert_eq!(value["type"], json!(name), "{line}");
            assert_eq!(EventType::from_name(name), Some(body.event_type()));
            assert_eq!(body.event_type().to_string(), name);
        }
        for unknown in ["", "ack", "Lost", "died", "Recovered"] {
            assert_eq!(EventType::from_name(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn watched_says_replay_only_when_it_is_one() {
        let live = Event::new(
            1,
            2,
            Body::Watched {
                client: client(),
                replay: false,
            },
        );
        assert!(!live.to_line().contains("replay"));
        let replay = Event::new(
            1,
            2,
            Body::Watched {
                client: client(),
                replay: true,
            },
        );
        assert!(replay.to_line().contains("\"replay\":true"));
    }

    #[test]
    fn the_log_line_escapes_del_and_c1_and_means_the_same() {
        let mut c = client();
        c.service = Some("a\u{7f}b\u{85}c\u{9f}d\u{a0}e".into());
        let event = Event::new(
            1,
            2,
            Body::Watched {
                client: c,
                replay: false,
            },
        );
        let logged = event.to_log_line();
        assert!(
            !logged.chars().any(|c| ('\u{7f}'..='\u{9f}').contains(&c)),
            "{logged}"
        );
        assert!(
            logged.contains("\\u007f") && logged.contains("\\u0085"),
            "{logged}"
        );
        let back: Value = serde_json::from_str(&logged).unwrap();
        let same: Value = serde_json::from_str(&event.to_line()).unwrap();
        assert_eq!(back, same);
    }

    #[test]
    fn replayed_is_the_contracts_marker() {
        let line = Event::new(4, 5, Body::Replayed { count: 2 }).to_line();
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value,
            json!({"v": 1, "seq": 4, "at_ms": 5, "type": "replayed", "count": 2})
        );
        let recovered = Event::new(
            1,
            2,
            Body::Recovered {
                client: client(),
                silent_ms: 1500,
            },
        );
        let value: Value = serde_json::from_str(&recovered.to_line()).unwrap();
        assert_eq!(value["silent_ms"], json!(1500));
        assert_eq!(value["client"]["id"], json!("0x00a00000"));
    }

    #[test]
    fn hello_and_ack() {
        let hello = Event::new(
            1,
            2,
            Body::Hello {
                server: ServerInfo {
                    display: ":0".into(),
                    pid: 42,
                    started_ms: 3,
                },
            },
        );
        let value: Value = serde_json::from_str(&hello.to_line()).unwrap();
        assert_eq!(
            value["server"],
            json!({"display": ":0", "pid": 42, "started_ms": 3})
        );
        let ack: Reply = serde_json::from_str(r#"{"v":1,"type":"ack","seq":9}"#).unwrap();
        assert_eq!(ack, Reply::Ack { seq: 9 });
        assert_eq!(parse_reply(br#"{"v":1,"type":"ack","seq":9}"#), Some(9));
        assert_eq!(parse_reply(br#"{"v":2,"type":"ack","seq":9}"#), None);
        assert_eq!(parse_reply(br#"{"v":1,"type":"nack","seq":9}"#), None);
        assert_eq!(parse_reply(b"ack 9"), None);
    }
}
