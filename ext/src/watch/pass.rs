//! The module's timer: every decision is made in its pass, which the server runs from its
//! timer list only when it is due. A pass lets the tracker decide what is due, acts on it,
//! writes the queued events, and sets the timer again: at the tracker's next deadline, and at
//! the next sweep while any client is watched. A sweep reads every watched client's request
//! count (the server's own bookkeeping, see `lifesign_watchdog::sampler`) every 10 ms, up to
//! 15 ms when sweeps are dear (`Cadence`), so that requests are stamped within that; a pass
//! for a deadline between sweeps reads only the clients it decides about. No turn of the
//! server's main loop runs any code of the module. (The server offers no callback on every
//! dispatch: FlushCallback comes only with output, so a client sending only one-way requests,
//! a NoOperation pulse, would go unseen between deadlines; the server's own poll of client
//! sockets is private to it, and an epoll set of the module's reports a socket only while
//! unread bytes are in it, which the server reads at once: so sweeps do not stop while
//! clients are watched.)

use super::{Watching, with};
use crate::link;
use crate::server::client::ClientView;
use crate::server::hooks::Grab;
use crate::server::{clients, repaint, time, timer, windows};
use lifesign_proto::ByteOrder;
use lifesign_proto::core::{self as core_proto, WmPing};
use lifesign_proto::event::Body;
use lifesign_watchdog::clock::{Millis, Stall};
use lifesign_watchdog::tracker::Action;

/// After a stall, how long the pass waits before deciding: the requests that queued up while
/// the server was away are read first.
const STALL_SETTLE: Millis = 50;

/// Samples every watched client at watchdog time `vnow`: their request counts in one sweep,
/// and the NoOperation count only of those whose request count changed.
fn sample_all(w: &mut Watching, vnow: Millis) {
    let Watching {
        sampler, counted, ..
    } = w;
    counted.clear();
    counted.extend_from_slice(sampler.requests());
    clients::read_requests(sampler.watched(), counted);
    sampler.sample_all(counted, vnow, clients::no_operations);
}

/// When the next pass is due (ms from `now`, at least 1): at the tracker's next deadline; at
/// the next sweep while any client is watched (its requests are sampled from the moment it
/// is watched); within `STALL_SETTLE` after a stall.
fn next_pass(w: &Watching, now: Millis, settle: bool) -> Option<u64> {
    let mut next = w.tracker.next_wake().map(|at| at.saturating_sub(now));
    let watching = !w.sampler.watched().is_empty();
    let sweep = w.next_sweep.saturating_sub(now);
    for (wanted, delay) in [(settle, STALL_SETTLE), (watching, sweep)] {
        if wanted {
            next = Some(next.map_or(delay, |n| n.min(delay)));
        }
    }
    next.map(|n| n.max(1))
}

/// Something changed outside a pass (a client watched, a pong, a grab): the timer comes when
/// [`next_pass`] says, if that is sooner than it is set for.
pub fn reschedule() {
    let now = time::now_ms();
    let Some(Some(next)) = with(|w| next_pass(w, now, false)) else {
        return;
    };
    timer::deadline_within(next);
    with(|w| w.tracker.plan_earlier(now + next));
}

/// A new generation: the last one's timer was freed with it, so no pass is planned.
pub fn new_generation() {
    with(|w| w.tracker.plan(None));
}

/// A server grab began or ended.
pub fn on_grab(grab: Grab) {
    let now = time::now_ms();
    with(|w| match grab {
        Grab::By(by) => {
            let (tracker, mut probe) = w.decide_at(now);
            tracker.grab(now, by, &mut probe);
        }
        Grab::Released => w.tracker.ungrab(now),
    });
    reschedule();
}

/// An event a client sends: the answer to our `_NET_WM_PING` is ours alone.
pub fn on_sent_event(sender: &mut ClientView<'_>, event: &[u8; 32]) -> bool {
    let index = sender.index();
    let ours = with(|w| {
        let atoms = w.atoms?;
        let pong = core_proto::parse_pong_event(
            event,
            ByteOrder::native(),
            atoms.wm_protocols,
            atoms.net_wm_ping,
        )?;
        Some(w.tracker.on_pong(index, pong.timestamp))
    })
    .flatten()
    .unwrap_or(false);
    if ours {
        reschedule();
    }
    ours
}

/// What a pass decided, taken out of the state before it is acted on.
struct Decided {
    actions: Vec<Action>,
    atoms: Option<windows::Atoms>,
    stall: Option<Millis>,
    settle: bool,
}

/// The timer's pass; returns when it is due again (ms from now), if at all. A pass sweeps
/// every watched client's counts when the sweep is due; a pass for a deadline in between
/// reads only the clients the tracker decides about (the probe samples them as it is asked).
pub fn on_timer() -> Option<u64> {
    let now = time::now_ms();
    let decided = with(|w| {
        let settle = matches!(w.tracker.after_sleep(now), Stall::Detected(_));
        if settle || now >= w.next_sweep {
            let vnow = w.tracker.virtual_now();
            let began = time::monotonic_us();
            sample_all(w, vnow);
            w.cadence.record(time::monotonic_us().saturating_sub(began));
            w.next_sweep = now + w.cadence.interval();
        }
        let actions = if settle {
            Vec::new()
        } else {
            let (tracker, mut probe) = w.decide_at(now);
            let mut actions = tracker.before_sleep(now, &mut probe).0;
            let recovered = tracker.recoveries(&mut probe);
            actions.extend(recovered.into_iter().map(Action::Report));
            actions
        };
        Decided {
            actions,
            atoms: w.atoms,
            stall: w.tracker.take_stall(),
            settle,
        }
    })?;
    if let Some(gap) = decided.stall {
        tracing::info!("the server was held up for {gap} ms; deadlines moved on by as much");
    }
    let acted = !decided.actions.is_empty();
    act(decided.actions, decided.atoms);
    identities();
    link::flush();
    // Acting (closing clients, sending events) takes time; a pass with nothing to do, the
    // usual one, reads the clock once.
    let now = if acted { time::now_ms() } else { now };
    with(|w| {
        let next = next_pass(w, now, decided.settle);
        w.tracker.plan(next.map(|n| now + n));
        next
    })
    .flatten()
}

/// The watched clients whose WM_CLASS was written, or who declared another service name,
/// since the last pass get an `updated` event if what they are now differs from what the
/// launcher was told: a launcher that attributes clients by class learns it then (their
/// `watched` event came before they had a window), and a client changing its name in a loop
/// is told at most once a pass.
fn identities() {
    for index in super::clients::take_identity_pending() {
        with(|w| {
            w.tracker.policy(index)?;
            let class = windows::wm_class(index);
            let client = w.tracker.identity_changed(index, class)?;
            w.emit(Body::Updated { client });
            Some(())
        });
    }
}

fn act(actions: Vec<Action>, atoms: Option<windows::Atoms>) {
    // What the losses took (a report costs a tenth of one): the next pass's batch fits it.
    let (mut losses, mut losses_us) = (0, 0);
    for action in actions {
        match action {
            Action::Report(body) => {
                with(|w| w.emit(body));
            }
            Action::Lose {
                index,
                close,
                event,
            } => {
                let since = time::monotonic_us();
                with(|w| w.emit(event));
                if close {
                    clients::close(index);
                }
                losses += 1;
                losses_us += time::monotonic_us().saturating_sub(since);
            }
            Action::Ping {
                index,
                window,
                timestamp,
            } => {
                let Some(atoms) = atoms else { continue };
                let ping = WmPing {
                    window,
                    timestamp,
                    wm_protocols: atoms.wm_protocols,
                    net_wm_ping: atoms.net_wm_ping,
                };
                clients::with(index, |client| windows::send_ping(client, ping));
            }
            Action::Repaint { index, window } => {
                clients::with(index, |client| repaint::send(client, window));
            }
        }
    }
    if losses > 0 {
        with(|w| {
            w.pace.record(losses, losses_us);
            w.tracker.set_losses_per_pass(w.pace.limit());
        });
    }
}
