//! `lifesign status --follow`: the watched clients, then one line per event as the server
//! makes it, from its own event stream (SelectEvents, `LifesignNotify`).
//!
//! The X event names the client by its XID base; the rest of its identity (peer, command,
//! service, class) comes from ListClients, asked once at the start and again when a client
//! is watched or its identity changes (`watched`, `updated`). A client that ListClients does
//! not show (gone meanwhile) is printed with what the event itself says.

use lifesign::{ALL_KINDS, Kind, Lifesign, Notify, Reason, StatusEntry};
use lifesign_proto::event::{Body, ClientInfo, Event, Transport};
use std::collections::HashMap;
use std::io::Write;
use x11rb::connection::Connection;
use x11rb::rust_connection::RustConnection;

pub fn run(display: Option<&str>, json: bool) -> Result<(), String> {
    let conn = crate::connect(display)?;
    let ls = Lifesign::new(&conn).map_err(|e| e.to_string())?;
    // An observer, not an application: a server that watches every client (`Watch all`)
    // with an idle deadline would otherwise end this quiet connection, and a launcher
    // could take it for a service.
    ls.unwatch(&conn).map_err(|e| e.to_string())?;
    // Subscribed first, listed second: no event falls between the list and the stream.
    ls.select_events(&conn, ALL_KINDS)
        .map_err(|e| e.to_string())?;
    let entries = ls.list_clients(&conn).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string(&entries).expect("entries serialize");
        writeln!(out, "{text}").map_err(|e| e.to_string())?;
    } else {
        write!(out, "{}", crate::table::render(&entries)).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())?;
    let mut known = Known::from(&entries);
    let lost = |e: x11rb::errors::ConnectionError| format!("lost the X server: {e}");
    loop {
        // Every event that is in, then at most one ListClients for all of them: a thousand
        // clients connecting at once cost one listing, not one each.
        let mut batch = vec![conn.wait_for_event().map_err(lost)?];
        while let Some(event) = conn.poll_for_event().map_err(lost)? {
            batch.push(event);
        }
        let notifies: Vec<Notify> = batch.iter().filter_map(|e| ls.parse_event(e)).collect();
        if notifies.iter().any(|n| known.needs_listing(n)) {
            known.refresh(&ls, &conn)?;
        }
        for notify in notifies {
            let client = known.client(&notify);
            let line = if json {
                event_line(&notify, client)
            } else {
                text_line(&notify, &client)
            };
            if matches!(notify.kind, Kind::Lost | Kind::Gone | Kind::Unwatched) {
                known.forget(notify.client);
            }
            // A reader that went away (`| head`) ends the command, quietly.
            if writeln!(out, "{line}").is_err() {
                return Ok(());
            }
        }
        if out.flush().is_err() {
            return Ok(());
        }
    }
}

/// The clients' identities as ListClients last showed them, by XID base.
struct Known(HashMap<u32, ClientInfo>);

impl Known {
    fn from(entries: &[StatusEntry]) -> Self {
        Self(
            entries
                .iter()
                .filter_map(|e| Some((base(&e.client.id)?, e.client.clone())))
                .collect(),
        )
    }

    /// Whether the event needs a new listing: a client not known yet, or one whose identity
    /// changed.
    fn needs_listing(&self, notify: &Notify) -> bool {
        notify.kind == Kind::Updated
            || (notify.kind == Kind::Watched && !self.0.contains_key(&notify.client))
    }

    fn refresh(&mut self, ls: &Lifesign, conn: &RustConnection) -> Result<(), String> {
        let entries = ls.list_clients(conn).map_err(|e| e.to_string())?;
        for entry in entries {
            if let Some(id) = base(&entry.client.id) {
                self.0.insert(id, entry.client);
            }
        }
        Ok(())
    }

    /// The client an event is about: as last listed, or as the event alone names it (a
    /// client gone before it could be listed): its id, index and transport, the rest null.
    fn client(&self, notify: &Notify) -> ClientInfo {
        self.0
            .get(&notify.client)
            .cloned()
            .unwrap_or_else(|| ClientInfo {
                id: ClientInfo::format_id(notify.client),
                index: u32::from(notify.index),
                transport: notify.transport.unwrap_or(Transport::Local),
                peer: None,
                pid: None,
                command: None,
                service: None,
                wm_class: None,
            })
    }

    fn forget(&mut self, client: u32) {
        self.0.remove(&client);
    }
}

fn base(id: &str) -> Option<u32> {
    u32::from_str_radix(id.strip_prefix("0x")?, 16).ok()
}

/// The event as the launcher gets it (the contract's JSON), one line.
fn event_line(notify: &Notify, client: ClientInfo) -> String {
    let silent_ms = u64::from(notify.silent_ms);
    let body = match (notify.kind, notify.reason) {
        (Kind::Watched, _) => Body::Watched {
            client,
            replay: false,
        },
        (Kind::Suspect, Some(Reason::Lost(reason))) => Body::Suspect {
            client,
            reason,
            silent_ms,
        },
        (Kind::Lost, Some(Reason::Lost(reason))) => Body::Lost {
            client,
            reason,
            silent_ms,
        },
        (Kind::Gone, Some(Reason::Gone(reason))) => Body::Gone { client, reason },
        (Kind::Recovered, _) => Body::Recovered { client, silent_ms },
        (Kind::Unwatched, _) => Body::Unwatched { client },
        (Kind::Updated, _) => Body::Updated { client },
        // A reason that does not fit its kind: a server of another version. Said as such
        // rather than guessed.
        (kind, reason) => {
            return serde_json::json!({
                "v": 1, "seq": notify.seq, "at_ms": notify.at_ms, "type": kind.as_str(),
                "client": client, "reason": reason.map(Reason::as_str),
                "silent_ms": notify.silent_ms,
            })
            .to_string();
        }
    };
    Event::new(u64::from(notify.seq), notify.at_ms, body).to_line()
}

/// The event for a reader: `17:40:01.234 suspect   0x00a00000 xclock (10.1.2.3)
/// idle-timeout, silent 2000 ms`.
fn text_line(notify: &Notify, client: &ClientInfo) -> String {
    let mut line = format!(
        "{} {:<9} {} {} ({})",
        clock(notify.at_ms),
        notify.kind.as_str(),
        client.id,
        who(client),
        host(client),
    );
    if let Some(reason) = notify.reason {
        line.push_str(&format!(" {}", reason.as_str()));
    }
    if matches!(notify.kind, Kind::Suspect | Kind::Lost | Kind::Recovered) {
        line.push_str(&format!(", silent {} ms", notify.silent_ms));
    }
    line
}

/// Where the client is: its peer's address, `local`, or (a TCP client that was gone before
/// it could be listed) that much.
fn host(client: &ClientInfo) -> &str {
    match (client.peer.as_deref(), client.transport) {
        (Some(peer), _) => peer.rsplit_once(':').map_or(peer, |(host, _)| host),
        (None, Transport::Local) => "local",
        (None, _) => "tcp, peer unknown",
    }
}

/// What a reader knows the client by: its service, else its class, else its command.
fn who(client: &ClientInfo) -> String {
    client
        .service
        .clone()
        .or_else(|| client.wm_class.as_ref().map(|c| c[0].clone()))
        .or_else(|| {
            client
                .command
                .as_deref()
                .map(|c| c.split_whitespace().next().unwrap_or(c).to_owned())
        })
        .unwrap_or_else(|| "-".into())
}

/// `at_ms` as the UTC time of day, HH:MM:SS.mmm.
fn clock(at_ms: u64) -> String {
    let day_ms = at_ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifesign_proto::event::LostReason;

    fn notify(kind: Kind, reason: Option<Reason>) -> Notify {
        Notify {
            kind,
            client: 0x00a0_0000,
            index: 5,
            reason,
            silent_ms: 2400,
            seq: 12,
            at_ms: 1_796_662_095_985,
            transport: Some(Transport::Tcp),
        }
    }

    fn xclock() -> ClientInfo {
        ClientInfo {
            id: "0x00a00000".into(),
            index: 5,
            transport: Transport::Tcp,
            peer: Some("10.1.2.3:51234".into()),
            pid: None,
            command: None,
            service: None,
            wm_class: Some(["xclock".into(), "XClock".into()]),
        }
    }

    #[test]
    fn a_json_line_is_the_contracts_event() {
        let n = notify(Kind::Suspect, Some(Reason::Lost(LostReason::IdleTimeout)));
        let event: Event = serde_json::from_str(&event_line(&n, xclock())).unwrap();
        assert_eq!(
            event,
            Event::new(
                12,
                1_796_662_095_985,
                Body::Suspect {
                    client: xclock(),
                    reason: LostReason::IdleTimeout,
                    silent_ms: 2400
                }
            )
        );
    }

    #[test]
    fn a_text_line_says_when_what_who_where_and_why() {
        let n = notify(Kind::Lost, Some(Reason::Lost(LostReason::IdleTimeout)));
        assert_eq!(
            text_line(&n, &xclock()),
            "16:48:15.985 lost      0x00a00000 xclock (10.1.2.3) idle-timeout, silent 2400 ms"
        );
        let unknown = Known(HashMap::new()).client(&n);
        assert_eq!(unknown.id, "0x00a00000");
        assert_eq!(unknown.transport, Transport::Tcp, "as the event says");
        assert!(text_line(&n, &unknown).contains(" - (tcp, peer unknown)"));
    }
}
