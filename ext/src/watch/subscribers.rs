//! Clients subscribed to the events of watched clients (SelectEvents, LIFESIGN 1.2): who,
//! for which kinds, seeing whom; and each event written to them as a `LifesignNotify`.
//!
//! Who sees whom is ListClients' rule: a subscriber always sees its own events, the others
//! only as the `ListClients` option allows it (decided once, from where the subscriber is
//! connected), and each only if the server's access control lets it read that client (asked
//! at every event: under SECURITY an untrusted client sees no trusted one). An event is
//! written when it is made, while the client it is about is still there (a lost client is
//! closed after its event; a gone one is in its Gone callback), so the access check can
//! still name it. A write only queues 32 bytes in the subscriber's output, as for any event:
//! a subscriber that does not read costs the server its own buffer, never a wait.

use super::{Watching, with};
use crate::server::client::ClientView;
use crate::server::{clients, xevents};
use lifesign_proto::ByteOrder;
use lifesign_proto::notify::Notify;
use lifesign_watchdog::policy;

struct Subscriber {
    index: usize,
    mask: u32,
    /// It may see other clients' events (the `ListClients` option, for where it is).
    others: bool,
}

/// At most one entry per client, so at most as many as the server has clients.
#[derive(Default)]
pub(super) struct Subscribers(Vec<Subscriber>);

impl Subscribers {
    fn set(&mut self, index: usize, mask: u32, others: bool) {
        self.remove(index);
        if mask != 0 {
            self.0.push(Subscriber {
                index,
                mask,
                others,
            });
        }
    }

    /// Client `index` ended: it gets nothing more.
    pub(super) fn remove(&mut self, index: usize) {
        self.0.retain(|s| s.index != index);
    }

    /// Writes `notify`, an event about client `about`, to every subscriber that asked for
    /// its kind and may see that client.
    pub(super) fn deliver(&self, notify: &Notify, about: usize) {
        if self.0.is_empty() {
            return;
        }
        let Some(code) = xevents::first_event() else {
            return;
        };
        let bit = notify.kind.bit();
        for s in self.0.iter().filter(|s| s.mask & bit != 0) {
            clients::with(s.index, |subscriber| {
                let sees = s.index == about || (s.others && clients::may_read(subscriber, about));
                if sees {
                    let mut bytes = notify.encode(code, ByteOrder::native());
                    subscriber.write_event(&mut bytes);
                }
            });
        }
    }
}

/// A SelectEvents request: `client` gets the events of the kinds in `mask` from now on (0:
/// none).
pub fn select_events(client: &mut ClientView<'_>, mask: u32) {
    let index = client.index();
    let (transport, peer) = client.transport();
    let local = policy::is_local(transport, peer.map(|p| p.ip()));
    with(|w: &mut Watching| {
        let others = policy::lists_others(w.config.list_clients, local);
        w.subscribers.set(index, mask, others);
    });
}
