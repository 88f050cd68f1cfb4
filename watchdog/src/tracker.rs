//! The watched clients and their deadlines.
//!
//! Requests only write a timestamp (O(1), no heap operation): the hot path of the server
//! stays a store. Deadlines sit in a min-heap with at most one live entry per client, keyed
//! by the earliest time anything could be due for it. When an entry comes up, the client's
//! real deadlines are computed from its timestamps; a client that was active in between is
//! simply re-scheduled. A wakeup therefore costs O(k log n) for the k clients whose entries
//! came up, never a scan of the quiet ones, and with no entry due the server is not woken.
//!
//! All times are the watchdog's own ([`Clock`]): real time less server stalls and grabs.

use crate::clock::{Clock, Millis, Stall};
use crate::end::SocketEnd;
use crate::end::{End, classify};
use crate::options::{Config, OnLost};
use crate::policy::Policy;
use crate::transfer::{Stuck, Transfer, TransferWatch};
use lifesign_proto::event::{Body, ClientInfo, LostReason, StatusEntry, WatchState};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, SocketAddr};

/// How soon a client the server holds back (ignored, asleep) is looked at again.
const HELD_RECHECK: Millis = 250;
/// Entries the heap may hold beyond two per slot before its stale ones are dropped.
const COMPACT_SLACK: usize = 64;
/// Clients lost in one pass of the block handler, at most (fewer where losing them costs more:
/// `pace`). Closing a client and reporting it costs the server tens of µs or more
/// (docs/benchmarks.md), so a thousand lost together, as when a switch dies, would otherwise
/// hold every other client for tens of ms.
/// A suspect report counts as one too: a thousand that fall silent together are half-way to
/// their deadline together, and reporting them all in one pass held the server for 60-500 ms
/// (a debug build, `faults_server`).
pub const MAX_LOSSES_PER_PASS: usize = 32;

/// When a client last showed activity, in the watchdog's time. The server records these on
/// its hot path (a store per request); the tracker reads them only when it decides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    pub request: Millis,
    pub no_operation: Millis,
    /// How many looks have seen the client's request count change (wrapping): an exact
    /// "sent something since", where two times of the same millisecond cannot tell.
    pub changes: u32,
}

/// What the tracker asks of the server while deciding.
pub trait Probe {
    /// The client's latest activity.
    fn activity(&mut self, index: usize) -> Activity;
    /// The server is not reading this client's requests now (IgnoreClient, ClientSleep,
    /// SyncAwait), so silence is not its fault. Server grabs are the clock's business.
    fn held(&mut self, index: usize) -> bool;
    /// A top-level window of the client whose WM_PROTOCOLS lists `_NET_WM_PING`.
    fn ping_window(&mut self, index: usize) -> Option<u32>;
    /// A viewable window of the client on which it selected exposures, for the repaint
    /// probe; `None` if it has none (iconified, unmapped, never asked for Expose).
    fn repaint_window(&mut self, index: usize) -> Option<u32>;
    /// What the client's TCP socket says of the output waiting for it; `None` where there is
    /// no such socket (then its transfer is not looked at again).
    fn transfer(&mut self, index: usize) -> Option<Transfer>;
}

/// What the server must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Report the event.
    Report(Body),
    /// Report the loss; close the client too if `close`.
    Lose {
        index: usize,
        close: bool,
        event: Body,
    },
    /// Send `_NET_WM_PING` with `timestamp` to `window` of client `index`.
    Ping {
        index: usize,
        window: u32,
        timestamp: u32,
    },
    /// Send the repaint probe, a 1x1 Expose, to `window` of client `index`.
    Repaint { index: usize, window: u32 },
}

/// A watched client as `lifesign status` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub info: ClientInfo,
    pub suspect: bool,
    pub idle_ms: Millis,
    pub noop_age_ms: Millis,
    pub policy: Policy,
}

impl Status {
    /// The entry of ListClients and `lifesign status --json`.
    pub fn entry(&self) -> StatusEntry {
        StatusEntry {
            client: self.info.clone(),
            state: if self.suspect {
                WatchState::Suspect
            } else {
                WatchState::Watching
            },
            idle_ms: self.idle_ms,
            noop_age_ms: self.noop_age_ms,
            policy: self.policy.info(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    due: Millis,
    index: usize,
    serial: u64,
}

struct Watched {
    serial: u64,
    info: ClientInfo,
    peer_ip: Option<IpAddr>,
    policy: Policy,
    grace_end: Millis,
    last_request: Millis,
    last_noop: Millis,
    /// How long the client has been held back by the server in all (a grab of another
    /// client, IgnoreClient, ClientSleep): a pause of its deadlines, never a restart.
    held_ms: Millis,
    /// Held back since then, as last seen by a look at it (a grab is counted apart).
    held_since: Option<Millis>,
    /// Its entry is a look again after `HELD_RECHECK`, made while it was held: the end of a
    /// grab schedules it from its deadlines at once.
    rechecking: bool,
    /// `held_ms` when `last_request`, `last_noop` and the ping out were last set: what was
    /// held after them moves their deadlines on.
    request_held: Millis,
    noop_held: Millis,
    ping_held: Millis,
    repaint_held: Millis,
    /// An unanswered ping: its timestamp and when it was sent.
    ping_out: Option<(u32, Millis)>,
    ping_next: Millis,
    /// An unanswered repaint probe: when it was sent, and the client's `changes` as the look
    /// that sent it saw them. Any request a later look sees answers it.
    repaint_out: Option<(Millis, u32)>,
    /// The client's `changes` as last seen.
    changes: u32,
    /// No repaint probe before then (a client without a window to probe is asked again an
    /// interval later).
    repaint_next: Millis,
    /// The suspect events already sent: for each deadline (by its reason), the reference
    /// time of the silence it was sent for. One per deadline: two deadlines past their
    /// half-way points at once are each reported once.
    suspect: Vec<(LostReason, Millis)>,
    /// The service name the launcher was last told (by `watched` or `updated`): a client
    /// changing it back and forth between two passes is told once, or not at all.
    told_service: Option<String>,
    /// Reported `suspect` and not yet `recovered`: the deadline and the reference of the
    /// silence of the first report. The client is on the tracker's `suspects` list meanwhile.
    shown_suspect: Option<(LostReason, Millis)>,
    /// Its host's pulse is lost: lose it at the next look.
    host_lost: bool,
    /// A TCP client with a transport timeout: the output waiting for it, as last looked at.
    transfer: Option<TransferWatch>,
    /// Already reported lost (notify mode keeps watching for the end only).
    lost: bool,
    /// The module is closing it; its end is not reported again.
    closing: bool,
    /// The due time of its live heap entry.
    heap_due: Option<Millis>,
}

impl Watched {
    /// Whether a suspect event sent for it still stands: the silence it was sent for goes on
    /// (that deadline's reference has not moved).
    fn still_suspect(&self) -> bool {
        self.suspect.iter().any(|&(reason, reference)| {
            self.deadlines()
                .any(|(r, _, why)| why == reason && r == reference)
        })
    }

    /// When the client showed the sign of life that ended the silence of `reason` that
    /// began at `reference`: its request or NoOperation stamp, or (an answered ping or a
    /// changed policy) the look's time `vnow`.
    fn sign_of_life(&self, reason: LostReason, reference: Millis, vnow: Millis) -> Millis {
        let stamp = match reason {
            LostReason::IdleTimeout | LostReason::RepaintTimeout => self.last_request,
            LostReason::NoopMissed => self.last_noop,
            _ => vnow,
        };
        if stamp > reference {
            stamp.min(vnow)
        } else {
            vnow
        }
    }

    /// When the silence that began at `reference` (with `held_at` held then) counts from: not
    /// before grace ends, and later by the time the client was held since.
    fn base(&self, reference: Millis, held_at: Millis) -> Millis {
        reference.max(self.grace_end) + self.held_ms.saturating_sub(held_at)
    }

    /// Every request-based deadline: (reference, deadline, reason).
    fn deadlines(&self) -> impl Iterator<Item = (Millis, Millis, LostReason)> + '_ {
        let p = &self.policy;
        let idle = p.idle_timeout.map(|t| {
            (
                self.last_request,
                self.base(self.last_request, self.request_held) + t,
                LostReason::IdleTimeout,
            )
        });
        let noop = p.expect_noop.map(|t| {
            (
                self.last_noop,
                self.base(self.last_noop, self.noop_held) + t,
                LostReason::NoopMissed,
            )
        });
        let ping = self.ping_out.map(|(_, sent)| {
            (
                sent,
                self.base(sent, self.ping_held) + p.wm_ping_timeout,
                LostReason::WmPingTimeout,
            )
        });
        // Any request answers a probe, so the client has sent none since before it: its
        // silence (`silent_ms`) counts from its last request, not from the probe.
        let repaint = self.repaint_out.map(|(sent, _)| {
            (
                self.last_request,
                self.base(sent, self.repaint_held) + p.repaint_probe_timeout,
                LostReason::RepaintTimeout,
            )
        });
        idle.into_iter().chain(noop).chain(ping).chain(repaint)
    }

    /// The deadline's half-way point, where the client becomes suspect.
    fn half_way(&self, deadline: Millis, reason: LostReason) -> Millis {
        let p = &self.policy;
        let length = match reason {
            LostReason::IdleTimeout => p.idle_timeout,
            LostReason::NoopMissed => p.expect_noop,
            LostReason::WmPingTimeout => Some(p.wm_ping_timeout),
            LostReason::RepaintTimeout => Some(p.repaint_probe_timeout),
            _ => None,
        };
        let length = length.unwrap_or(0).min(deadline);
        let start = deadline - length;
        start + length / 2
    }

    /// When the next repaint probe is due: a quiet interval after the client's last request
    /// (a client active meanwhile needs none), not before `repaint_next`, and never while one
    /// is out.
    fn repaint_due(&self) -> Option<Millis> {
        let interval = self.policy.repaint_probe?;
        if self.repaint_out.is_some() {
            return None;
        }
        let quiet = self.base(self.last_request, self.request_held) + interval;
        Some(quiet.max(self.repaint_next))
    }

    fn next_due(&self) -> Option<Millis> {
        let mut due: Option<Millis> = None;
        let mut consider = |t: Millis| due = Some(due.map_or(t, |d| d.min(t)));
        for (reference, deadline, reason) in self.deadlines() {
            consider(deadline);
            if !self.suspect.contains(&(reason, reference)) {
                consider(self.half_way(deadline, reason));
            }
        }
        if self.policy.wm_ping.is_some() && self.ping_out.is_none() {
            consider(self.ping_next);
        }
        if let Some(due) = self.repaint_due() {
            consider(due);
        }
        if let Some(t) = &self.transfer {
            consider(t.next_check);
        }
        due
    }
}

pub struct Tracker {
    grace: Millis,
    close_on_lost: bool,
    default_policy: Policy,
    clock: Clock,
    slots: Vec<Option<Watched>>,
    heap: BinaryHeap<Reverse<Entry>>,
    serial: u64,
    ping_counter: u32,
    /// The watchdog time of the last wakeup or block: the requests of the dispatch that follows
    /// count at it.
    vnow: Millis,
    /// Clients looked at since creation, for tests and benchmarks.
    evaluations: u64,
    /// A stall seen and not yet reported.
    stall: Option<Millis>,
    /// Losses and suspect reports one pass may make (at most [`MAX_LOSSES_PER_PASS`]; the
    /// module fits it to what they cost: `pace`).
    losses_per_pass: usize,
    /// A server grab is on, by this client (if known): no other client's requests are read,
    /// so every other client is held; the grabber's own deadlines run (a grabber that hangs
    /// freezes the display, which is the first thing to catch).
    grab: Option<Option<usize>>,
    /// When the grab began (watchdog time).
    grab_since: Millis,
    /// The clients reported `suspect` and not yet `recovered`, looked at by
    /// [`Tracker::recoveries`] (every pass: a sign of life is reported within one).
    suspects: Vec<usize>,
}

impl Tracker {
    pub fn new(config: &Config) -> Self {
        Self {
            grace: config.grace.as_millis() as Millis,
            close_on_lost: config.on_lost == OnLost::Close,
            default_policy: Policy::from_config(config),
            clock: Clock::new(config.stall_guard.map(|d| d.as_millis() as Millis)),
            slots: Vec::new(),
            heap: BinaryHeap::new(),
            serial: 0,
            ping_counter: 0,
            vnow: 0,
            evaluations: 0,
            grab: None,
            grab_since: 0,
            stall: None,
            losses_per_pass: MAX_LOSSES_PER_PASS,
            suspects: Vec::new(),
        }
    }

    /// From the next pass on, at most `most` losses and suspect reports a pass (1 to
    /// [`MAX_LOSSES_PER_PASS`]).
    pub fn set_losses_per_pass(&mut self, most: usize) {
        self.losses_per_pass = most.clamp(1, MAX_LOSSES_PER_PASS);
    }

    /// The policy of clients watched without opting in.
    pub fn default_policy(&self) -> Policy {
        self.default_policy
    }

    fn slot(&mut self, index: usize) -> Option<&mut Watched> {
        self.slots.get_mut(index).and_then(Option::as_mut)
    }

    fn refresh(&mut self, now: Millis) {
        self.vnow = self.vnow.max(self.clock.virtual_at(now));
    }

    fn schedule(&mut self, index: usize) {
        let Some(w) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let due = if w.lost || w.closing {
            None
        } else if w.host_lost {
            Some(0)
        } else {
            w.next_due()
        };
        if due == w.heap_due {
            return;
        }
        w.heap_due = due;
        if let Some(due) = due {
            let entry = Entry {
                due,
                index,
                serial: w.serial,
            };
            self.push(entry);
        }
    }

    /// Pushes a client's new entry; its earlier ones stay behind, stale, until they come up
    /// or the heap is compacted. A client that changes its policy in a loop would otherwise
    /// grow the heap by one entry a request for as long as its deadline is away: so once the
    /// heap holds more than two entries per slot, the stale ones go (at most one entry per
    /// client is live, so each compaction frees at least half: O(1) a push, amortized).
    fn push(&mut self, entry: Entry) {
        self.heap.push(Reverse(entry));
        if self.heap.len() > 2 * self.slots.len() + COMPACT_SLACK {
            self.compact();
        }
    }

    /// Makes the heap anew from the clients' live entries, one each (a client switching
    /// between policies can leave several entries with its live due time), and gives back
    /// what it no longer needs. An entry a pass holds aside meanwhile comes back after it, a
    /// duplicate that the next look drops.
    fn compact(&mut self) {
        let live: Vec<Reverse<Entry>> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| {
                let w = slot.as_ref()?;
                Some(Reverse(Entry {
                    due: w.heap_due?,
                    index,
                    serial: w.serial,
                }))
            })
            .collect();
        self.heap = BinaryHeap::from(live);
    }

    /// Entries in the heap, live or stale: for tests of its bound.
    pub fn heap_len(&self) -> usize {
        self.heap.len()
    }

    /// Starts watching client `index` (connection setup done) and says so.
    pub fn watch(&mut self, index: usize, info: ClientInfo, policy: Policy, now: Millis) -> Body {
        self.refresh(now);
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        self.serial += 1;
        let vnow = self.vnow;
        let grace_end = vnow + self.grace;
        let peer_ip = info
            .peer
            .as_deref()
            .and_then(|p| p.parse::<SocketAddr>().ok())
            .map(|a| a.ip());
        let transfer = transfer_watch(&info, &policy, vnow);
        self.slots[index] = Some(Watched {
            serial: self.serial,
            told_service: info.service.clone(),
            info: info.clone(),
            peer_ip,
            policy,
            grace_end,
            last_request: vnow,
            last_noop: vnow,
            held_ms: 0,
            held_since: None,
            rechecking: false,
            request_held: 0,
            noop_held: 0,
            ping_held: 0,
            repaint_held: 0,
            ping_out: None,
            ping_next: grace_end,
            repaint_out: None,
            changes: 0,
            repaint_next: grace_end,
            suspect: Vec::new(),
            shown_suspect: None,
            host_lost: false,
            transfer,
            lost: false,
            closing: false,
            heap_due: None,
        });
        self.schedule(index);
        Body::Watched {
            client: info,
            replay: false,
        }
    }

    /// A watched client declared its own policy (and service name) through the extension.
    /// Returns whether its service name is not the one the launcher was told: the module
    /// then asks [`Tracker::identity_changed`] at its next pass, which tells it once.
    pub fn set_policy(&mut self, index: usize, policy: Policy, service: Option<String>) -> bool {
        let vnow = self.vnow;
        let mut updated = false;
        if let Some(w) = self.slot(index) {
            w.info.service = service;
            updated = w.info.service != w.told_service;
            // The same policy again changes nothing else: a suspect client repeating its
            // Watch is not reported suspect again, an outstanding ping stays out.
            if w.policy != policy {
                if w.policy.transport_timeout != policy.transport_timeout {
                    w.transfer = transfer_watch(&w.info, &policy, vnow);
                }
                w.policy = policy;
                w.ping_out = None;
                w.repaint_out = None;
                w.suspect.clear();
            }
        }
        // The same policy again keeps its entry; another one pushes a new entry only if its
        // first due time moved (an entry that comes up early is only looked at again).
        self.schedule(index);
        updated
    }

    /// Stops watching; the client's end is then not reported. Returns its client fields (for
    /// the `unwatched` event) if it was watched.
    pub fn unwatch(&mut self, index: usize) -> Option<ClientInfo> {
        self.slots
            .get_mut(index)
            .and_then(Option::take)
            .map(|w| w.info)
    }

    /// The client's identity as a pass finds it: `class`, its first top-level window's (if
    /// it has one), and the service name it declared last. Its client fields for an
    /// `updated` event if either differs from what the launcher was told; `None` if
    /// nothing does, or it is not watched, or it is lost.
    pub fn identity_changed(
        &mut self,
        index: usize,
        class: Option<[String; 2]>,
    ) -> Option<ClientInfo> {
        let w = self.slot(index)?;
        if w.lost || w.closing {
            return None;
        }
        let class = class.filter(|c| w.info.wm_class.as_ref() != Some(c));
        if class.is_none() && w.info.service == w.told_service {
            return None;
        }
        if class.is_some() {
            w.info.wm_class = class;
        }
        w.told_service = w.info.service.clone();
        Some(w.info.clone())
    }

    /// The clients that were reported `suspect` and showed a sign of life since (their
    /// silence ended before the module lost them, a ping was answered, their policy
    /// changed): a `recovered` event for each, with how long it had been silent, at most as
    /// many a call as a pass may lose. Their activity is read now; a client lost or gone
    /// meanwhile leaves the list without one.
    pub fn recoveries(&mut self, probe: &mut impl Probe) -> Vec<Body> {
        let mut recovered = Vec::new();
        let mut still = Vec::new();
        let vnow = self.vnow;
        for index in std::mem::take(&mut self.suspects) {
            // Paced as losses are: a thousand that speak again together are reported over
            // a few passes, the rest looked at in the next.
            if recovered.len() >= self.losses_per_pass {
                still.push(index);
                continue;
            }
            let activity = probe.activity(index);
            let Some(w) = self.slot(index) else { continue };
            let Some((reason, reference)) = w.shown_suspect else {
                continue;
            };
            if w.lost || w.closing {
                continue;
            }
            Self::absorb(w, activity);
            if w.still_suspect() {
                still.push(index);
                continue;
            }
            w.shown_suspect = None;
            let silent_ms = w
                .sign_of_life(reason, reference, vnow)
                .saturating_sub(reference);
            recovered.push(Body::Recovered {
                client: w.info.clone(),
                silent_ms,
            });
            // Its deadlines moved on: its entry may be far later than they are now.
            self.schedule(index);
        }
        self.suspects = still;
        recovered
    }

    pub fn policy(&self, index: usize) -> Option<Policy> {
        self.slots
            .get(index)
            .and_then(Option::as_ref)
            .map(|w| w.policy)
    }

    pub fn info_mut(&mut self, index: usize) -> Option<&mut ClientInfo> {
        self.slot(index).map(|w| &mut w.info)
    }

    /// A `_NET_WM_PING` answer; true if it answers our ping (the module then keeps it from
    /// reaching anyone else).
    pub fn on_pong(&mut self, index: usize, timestamp: u32) -> bool {
        let ours = self
            .slot(index)
            .is_some_and(|w| w.ping_out.is_some_and(|(ts, _)| ts == timestamp));
        if ours {
            if let Some(w) = self.slot(index) {
                w.ping_out = None;
            }
            self.schedule(index);
        }
        ours
    }

    /// The watchdog time at real time `now`, as things stand (a stall the next block handler
    /// detects is not taken out yet).
    pub fn virtual_at(&self, now: Millis) -> Millis {
        self.vnow.max(self.clock.virtual_at(now))
    }

    /// The watchdog time requests are stamped with until the next wakeup.
    /// No deadline is pending: no pass can find anything due, and no stall can matter.
    pub fn is_quiet(&self) -> bool {
        self.heap.is_empty()
    }

    pub fn virtual_now(&self) -> Millis {
        self.vnow
    }

    fn absorb(w: &mut Watched, activity: Activity) {
        // A stamp seen now counts with the time held so far: a hold between the request and
        // this look is not credited, so a deadline is never later than it should be by
        // more than the holds, and never earlier than without them.
        if activity.request > w.last_request {
            w.last_request = activity.request;
            w.request_held = w.held_ms;
        }
        // A request that a look after the probing one saw answers the probe: counted, not
        // timed, since a look in the same millisecond as the probe (ListClients, a grab, a
        // launcher's replay) stamps an answer with the probe's own time.
        w.changes = activity.changes;
        if w.repaint_out
            .is_some_and(|(_, seen)| seen != activity.changes)
        {
            w.repaint_out = None;
        }
        if activity.no_operation > w.last_noop {
            w.last_noop = activity.no_operation;
            w.noop_held = w.held_ms;
        }
    }

    /// The server woke up at `now`.
    pub fn after_sleep(&mut self, now: Millis) -> Stall {
        let stall = self.clock.after_sleep(now);
        self.refresh(now);
        if let Stall::Detected(gap) = stall {
            self.stall = Some(gap);
        }
        stall
    }

    /// Time has come to `now` (real time), outside a pass: what the watchdog's time says.
    pub fn refresh_to(&mut self, now: Millis) {
        self.refresh(now);
    }

    /// When the next pass has something to look at (real time), as things stand.
    pub fn next_wake(&self) -> Option<Millis> {
        self.heap
            .peek()
            .and_then(|Reverse(e)| self.clock.real_at(e.due.max(self.vnow)))
    }

    /// The module's timer is set for `at` (real time), whatever the heap says: a wakeup later
    /// than that by more than `StallGuard` is a stall.
    pub fn plan(&mut self, at: Option<Millis>) {
        self.clock.plan(at);
    }

    /// The module's timer was moved to `at`, earlier than planned (or set when none was).
    pub fn plan_earlier(&mut self, at: Millis) {
        self.clock.plan_earlier(at);
    }

    /// Client `by` (when known) grabbed the server.
    /// Every client's activity is taken in first (from `probe`): a request made before the
    /// grab must count with the time held before it, so that the grab is added to its
    /// deadline in full.
    pub fn grab(&mut self, now: Millis, by: Option<usize>, probe: &mut impl Probe) {
        self.refresh(now);
        if self.grab.is_none() {
            self.grab_since = self.vnow;
            for index in 0..self.slots.len() {
                if self.slots[index].is_some() && by != Some(index) {
                    let activity = probe.activity(index);
                    if let Some(w) = self.slots[index].as_mut() {
                        Self::absorb(w, activity);
                    }
                }
            }
        }
        self.grab = Some(by);
    }

    /// The grab ended: the clients it held add the time it lasted to their deadlines (a
    /// pause, not a restart: a client that grabs often does not keep a hung one alive).
    pub fn ungrab(&mut self, now: Millis) {
        self.refresh(now);
        let Some(by) = self.grab.take() else { return };
        let lasted = self.vnow.saturating_sub(self.grab_since);
        for index in 0..self.slots.len() {
            let Some(w) = self.slots[index].as_mut() else {
                continue;
            };
            if by == Some(index) {
                continue;
            }
            w.held_ms += lasted;
            // A client looked at during the grab waits for its recheck: it is scheduled from
            // its deadlines now, which the grab moved on (the others' entries come up as they
            // were, and are scheduled on from then).
            if std::mem::take(&mut w.rechecking) {
                w.heap_due = None;
                self.schedule(index);
            }
        }
    }

    /// The block handler: decides what is due at `now` and when to wake next (real time).
    /// At most `losses_per_pass` clients are lost or reported suspect in one pass; the
    /// rest stay due, so the wait is zero and the server serves its other clients before the
    /// next pass.
    pub fn before_sleep(
        &mut self,
        now: Millis,
        probe: &mut impl Probe,
    ) -> (Vec<Action>, Option<Millis>) {
        let stall = self.clock.before_sleep(now);
        self.refresh(now);
        let mut actions = Vec::new();
        if let Stall::Detected(gap) = stall {
            self.stall = Some(gap);
            // Requests that came in while the server was away are unread: decide after the
            // next dispatch, which a zero timeout brings at once.
            self.clock.plan(Some(now));
            return (actions, Some(now));
        }
        // Each client is looked at once per pass: whatever it schedules for now or earlier is
        // left for the next pass (a zero wait), so no rule can keep the server here.
        // Made only in a pass that has something due: most passes have nothing.
        let mut looked_at: Option<std::collections::HashSet<usize>> = None;
        let mut again = Vec::new();
        let mut losses = 0;
        while let Some(&Reverse(entry)) = self.heap.peek() {
            if entry.due > self.vnow || losses >= self.losses_per_pass {
                break;
            }
            self.heap.pop();
            let live = self
                .slots
                .get(entry.index)
                .and_then(Option::as_ref)
                .is_some_and(|w| w.serial == entry.serial && w.heap_due == Some(entry.due));
            // A stale entry (its client rescheduled or gone) is dropped, and does not count
            // as the client's look in this pass.
            if !live {
                continue;
            }
            if !looked_at.get_or_insert_default().insert(entry.index) {
                again.push(Reverse(entry));
                continue;
            }
            let before = actions.len();
            self.evaluate(entry.index, probe, &mut actions);
            losses += actions[before..]
                .iter()
                .filter(|a| matches!(a, Action::Lose { .. } | Action::Report(_)))
                .count();
        }
        self.heap.extend(again);
        let wake = self
            .heap
            .peek()
            .and_then(|Reverse(e)| self.clock.real_at(e.due.max(self.vnow)));
        self.clock.plan(wake);
        (actions, wake)
    }

    fn evaluate(&mut self, index: usize, probe: &mut impl Probe, actions: &mut Vec<Action>) {
        self.evaluations += 1;
        let vnow = self.vnow;
        let close = self.close_on_lost;
        let client_held = probe.held(index);
        let held = client_held || self.grab.is_some_and(|by| by != Some(index));
        let activity = probe.activity(index);
        let Some(w) = self.slot(index) else { return };
        Self::absorb(w, activity);
        w.heap_due = None;
        // A hold of the client itself is seen at looks: counted from the first look that saw
        // it to the first that did not (a grab is counted from the grab itself).
        match (client_held, w.held_since) {
            (true, None) => w.held_since = Some(vnow),
            (false, Some(since)) => {
                w.held_ms += vnow.saturating_sub(since);
                w.held_since = None;
            }
            _ => {}
        }
        if w.host_lost {
            let silent_ms = vnow.saturating_sub(w.last_request);
            self.lose(index, LostReason::HostPulseLost, silent_ms, close, actions);
            return;
        }
        // The kernel moves output whatever the server holds: transfers are judged through
        // grabs and holds.
        if w.transfer.is_some_and(|t| vnow >= t.next_check) {
            let stuck = match probe.transfer(index) {
                Some(t) => self
                    .slot(index)
                    .and_then(|w| w.transfer.as_mut()?.look(vnow, t).err()),
                None => {
                    if let Some(w) = self.slot(index) {
                        w.transfer = None;
                    }
                    None
                }
            };
            if let Some(stuck) = stuck {
                let silent_ms = match stuck {
                    Stuck::Unanswered { for_ms } => for_ms,
                    Stuck::NotTaken { for_ms } => for_ms,
                };
                self.lose(
                    index,
                    LostReason::TransportTimeout,
                    silent_ms,
                    close,
                    actions,
                );
                return;
            }
        }
        let Some(w) = self.slot(index) else { return };
        w.rechecking = held;
        if held {
            w.heap_due = Some(vnow + HELD_RECHECK);
            let entry = Entry {
                due: vnow + HELD_RECHECK,
                index,
                serial: w.serial,
            };
            self.push(entry);
            return;
        }
        // The earliest deadline passed decides the reason.
        let expired = w
            .deadlines()
            .filter(|&(_, deadline, _)| vnow >= deadline)
            .min_by_key(|&(_, deadline, _)| deadline);
        if let Some((reference, _, reason)) = expired {
            let silent_ms = vnow.saturating_sub(reference);
            self.lose(index, reason, silent_ms, close, actions);
            return;
        }
        let suspect = w.deadlines().find(|&(reference, deadline, reason)| {
            vnow >= w.half_way(deadline, reason) && !w.suspect.contains(&(reason, reference))
        });
        if let Some((reference, _, reason)) = suspect {
            w.suspect.retain(|&(why, _)| why != reason);
            w.suspect.push((reason, reference));
            let first = w.shown_suspect.is_none();
            if first {
                w.shown_suspect = Some((reason, reference));
            }
            actions.push(Action::Report(Body::Suspect {
                client: w.info.clone(),
                reason,
                silent_ms: vnow.saturating_sub(reference),
            }));
            if first {
                self.suspects.push(index);
            }
        }
        let Some(w) = self.slot(index) else { return };
        if let Some(interval) = w.policy.wm_ping
            && w.ping_out.is_none()
            && vnow >= w.ping_next
        {
            w.ping_next = vnow + interval;
            if let Some(window) = probe.ping_window(index) {
                self.ping_counter = self.ping_counter.wrapping_add(1).max(1);
                let timestamp = self.ping_counter;
                let w = self.slot(index).expect("looked up above");
                w.ping_out = Some((timestamp, vnow));
                w.ping_held = w.held_ms;
                actions.push(Action::Ping {
                    index,
                    window,
                    timestamp,
                });
            }
        }
        let Some(w) = self.slot(index) else { return };
        if let Some(due) = w.repaint_due()
            && vnow >= due
        {
            let interval = w.policy.repaint_probe.unwrap_or(0);
            w.repaint_next = vnow + interval;
            // A client that answers _NET_WM_PING is pinged instead.
            let pinged = w.policy.wm_ping.is_some() && probe.ping_window(index).is_some();
            if !pinged && let Some(window) = probe.repaint_window(index) {
                let w = self.slot(index).expect("looked up above");
                w.repaint_out = Some((vnow, w.changes));
                w.repaint_held = w.held_ms;
                actions.push(Action::Repaint { index, window });
            }
        }
        self.schedule(index);
    }

    fn lose(
        &mut self,
        index: usize,
        reason: LostReason,
        silent_ms: Millis,
        close: bool,
        actions: &mut Vec<Action>,
    ) {
        let Some(w) = self.slot(index) else { return };
        w.lost = true;
        w.closing = close;
        w.heap_due = None;
        let event = Body::Lost {
            client: w.info.clone(),
            reason,
            silent_ms,
        };
        let host = (w.policy.host_scope).then_some(w.peer_ip).flatten();
        actions.push(Action::Lose {
            index,
            close,
            event,
        });
        if let Some(ip) = host {
            self.lose_host(ip, index);
        }
    }

    /// A host-scope pulse from `ip` stopped: every other client of that host goes at the next
    /// look, which is now.
    fn lose_host(&mut self, ip: IpAddr, pulse: usize) {
        let victims: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(i, w)| {
                *i != pulse
                    && w.as_ref()
                        .is_some_and(|w| w.peer_ip == Some(ip) && !w.lost && !w.closing)
            })
            .map(|(i, _)| i)
            .collect();
        for index in victims {
            if let Some(w) = self.slot(index) {
                w.host_lost = true;
            }
            self.schedule(index);
        }
    }

    /// The server closed client `index` (or is about to): its end, unless the module closed
    /// it, or already reported it lost. `socket` is asked only if needed.
    pub fn on_gone(
        &mut self,
        index: usize,
        activity: Activity,
        killed: bool,
        socket: impl FnOnce() -> Option<SocketEnd>,
    ) -> Option<Body> {
        let mut w = self.slots.get_mut(index).and_then(Option::take)?;
        Self::absorb(&mut w, activity);
        if w.closing || w.lost {
            return None;
        }
        let silent_ms = self.vnow.saturating_sub(w.last_request);
        match classify(killed, socket(), w.policy.transport_timeout) {
            End::Gone(reason) => Some(Body::Gone {
                client: w.info,
                reason,
            }),
            End::Lost(reason) => {
                if let (true, Some(ip)) = (w.policy.host_scope, w.peer_ip) {
                    self.lose_host(ip, index);
                }
                Some(Body::Lost {
                    client: w.info,
                    reason,
                    silent_ms,
                })
            }
        }
    }

    /// The watched clients, for the List request.
    pub fn status(&mut self, probe: &mut impl Probe) -> Vec<Status> {
        let vnow = self.vnow;
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if let Some(w) = slot {
                Self::absorb(w, probe.activity(index));
            }
        }
        self.slots
            .iter()
            .flatten()
            .map(|w| Status {
                info: w.info.clone(),
                suspect: w.still_suspect(),
                idle_ms: vnow.saturating_sub(w.last_request),
                noop_age_ms: vnow.saturating_sub(w.last_noop),
                policy: w.policy,
            })
            .collect()
    }

    /// The last stall of the server (ms it was held up), once.
    pub fn take_stall(&mut self) -> Option<Millis> {
        self.stall.take()
    }

    /// How many clients have been looked at in block handlers so far.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }
}

/// The transfer of a TCP client whose policy has a transport timeout is looked at; a local
/// client's is not (the kernel's keepalive and the module's looks are for TCP).
fn transfer_watch(info: &ClientInfo, policy: &Policy, now: Millis) -> Option<TransferWatch> {
    let tcp = info.transport != lifesign_proto::event::Transport::Local;
    tcp.then_some(policy.transport_timeout)
        .flatten()
        .map(|t| TransferWatch::new(t, now))
}

#[cfg(test)]
mod tests;
