//! Events: made complete, kept for the launcher until acknowledged, logged; what a new
//! launcher connection is told first; the watched clients as ListClients returns them.

use super::{Watching, with};
use crate::link;
use crate::server::client::ClientView;
use crate::server::{clients, notify, time, timer, windows};
use lifesign_proto::event::{Body, ClientInfo, Event, ServerInfo, StatusEntry};
use lifesign_proto::notify::Notify;
use lifesign_watchdog::outbox;
use lifesign_watchdog::policy;

impl Watching {
    /// Stamps, completes and reports an event. The line goes out at the end of the timer's
    /// pass that made it, or at the next pass (within 1 ms) for one made elsewhere.
    pub(super) fn emit(&mut self, mut body: Body) {
        // The tracker keeps the class a `watched` or `updated` event told: a class known
        // later is told by its own `updated` (`pass::classes_known`), even if another event
        // named it first.
        let tells = matches!(body, Body::Watched { .. } | Body::Updated { .. });
        if let Some(client) = body.client_mut()
            && client.wm_class.is_none()
        {
            let index = client.index as usize;
            client.wm_class = windows::wm_class(index);
            if let (true, Some(class), Some(info)) =
                (tells, &client.wm_class, self.tracker.info_mut(index))
            {
                info.wm_class = Some(class.clone());
            }
        }
        let at = time::unix_ms();
        let about = body.client().map(|c| c.index as usize);
        let event = match self.outbox.as_mut() {
            Some(outbox) => {
                let (event, line, dropped) = outbox.push(at, body);
                if let Some(seq) = dropped {
                    tracing::error!(
                        "launcher queue full ({} events): dropped event seq {seq}",
                        outbox::BOUND,
                    );
                }
                tracing::info!("event {}", event.to_log_line());
                link::send(line);
                event
            }
            // No launcher: the log is where the event goes.
            None => {
                self.seq += 1;
                let event = Event::new(self.seq, at, body);
                tracing::info!("event {}", event.to_log_line());
                event
            }
        };
        if let (Some(about), Some(notify)) = (
            about,
            Notify::from_event(event.seq, event.at_ms, &event.body),
        ) {
            self.subscribers.deliver(&notify, about);
        }
    }
}

/// Events made outside the timer's pass go out at its next pass: a burst of them (a thousand
/// clients gone together) costs one write and one wakeup of the launcher, not one each.
pub fn flush_soon() {
    if link::queued() {
        timer::deadline_within(1);
    }
}

/// What a new launcher connection is sent first, a line at a time to `out`: `hello`, a
/// `watched` replay of every watched client, every event it has not acknowledged (as the
/// lines they were sent as), then `replayed` with the replay's count. `replayed` comes last
/// so that it means what it says, the launcher has the server's whole view: a burst larger
/// than the socket takes at once reaches the launcher in parts, and a kept `lost` still
/// behind it would be taken for older than what the launcher starts on the view.
pub fn opening_lines(mut out: impl FnMut(&str)) {
    let now = time::now_ms();
    with(|w| {
        let hello = Body::Hello {
            server: ServerInfo {
                display: notify::display_name(),
                pid: std::process::id(),
                started_ms: w.started_ms,
            },
        };
        let (tracker, mut probe) = w.decide_at(now);
        // With their class read now: a launcher tells services apart by it, and the tracker
        // learns it only when it reports a client.
        let watched: Vec<ClientInfo> = tracker
            .status(&mut probe)
            .into_iter()
            .map(|s| with_class(s.info))
            .collect();
        let Some(outbox) = w.outbox.as_mut() else {
            return;
        };
        let at = time::unix_ms();
        out(&outbox.transient(at, hello).to_line());
        let count = watched.len() as u64;
        for client in watched {
            let replay = Body::Watched {
                client,
                replay: true,
            };
            out(&outbox.transient(at, replay).to_line());
        }
        outbox.unacknowledged().for_each(&mut out);
        out(&outbox.transient(at, Body::Replayed { count }).to_line());
    });
}

/// The launcher acknowledged an event.
pub fn on_ack(seq: u64) {
    with(|w| {
        if let Some(outbox) = w.outbox.as_mut() {
            outbox.ack(seq);
        }
    });
}

/// The watched clients `requester` may see (ListClients): itself always; the others as the
/// `ListClients` option allows it, and each only if the server's access control lets it read
/// that client (an untrusted client under SECURITY sees no trusted one).
pub fn list_json(requester: &mut ClientView<'_>) -> String {
    let own = requester.index();
    let (transport, peer) = requester.transport();
    let local = policy::is_local(transport, peer.map(|p| p.ip()));
    let now = time::now_ms();
    let entries: Vec<StatusEntry> = with(|w| {
        let others = policy::lists_others(w.config.list_clients, local);
        let (tracker, mut probe) = w.decide_at(now);
        tracker
            .status(&mut probe)
            .iter()
            .map(|s| s.entry())
            .filter(|e| e.client.index as usize == own || others)
            .collect::<Vec<_>>()
    })
    .unwrap_or_default();
    let entries: Vec<StatusEntry> = entries
        .into_iter()
        .filter(|e| {
            let index = e.client.index as usize;
            index == own || clients::may_read(requester, index)
        })
        .map(|mut e| {
            e.client = with_class(e.client);
            e
        })
        .collect();
    serde_json::to_string(&entries).expect("status entries serialize")
}

/// `client` with the class of its first top-level window, when it has one and the tracker
/// did not know it yet.
fn with_class(mut client: ClientInfo) -> ClientInfo {
    if client.wm_class.is_none() {
        client.wm_class = windows::wm_class(client.index as usize);
    }
    client
}
