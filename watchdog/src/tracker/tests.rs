use super::*;
use lifesign_proto::event::{GoneReason, Transport};

struct FakeServer {
    held: Vec<usize>,
    windows: Vec<(usize, u32)>,
    /// Windows the repaint probe may go to.
    repaint: Vec<(usize, u32)>,
    activity: std::collections::HashMap<usize, Activity>,
    /// What the TCP sockets say; a client not here has none.
    transfers: std::collections::HashMap<usize, crate::transfer::Transfer>,
}

impl FakeServer {
    /// Client `index` sent a request (a NoOperation if `noop`) in the current dispatch.
    fn request(&mut self, t: &Tracker, index: usize, noop: bool) {
        let a = self.activity.entry(index).or_default();
        a.request = t.virtual_now();
        a.changes = a.changes.wrapping_add(1);
        if noop {
            a.no_operation = t.virtual_now();
        }
    }
}

impl Probe for FakeServer {
    fn activity(&mut self, index: usize) -> Activity {
        self.activity.get(&index).copied().unwrap_or_default()
    }
    fn held(&mut self, index: usize) -> bool {
        self.held.contains(&index)
    }
    fn ping_window(&mut self, index: usize) -> Option<u32> {
        self.windows
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, w)| *w)
    }
    fn repaint_window(&mut self, index: usize) -> Option<u32> {
        self.repaint
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, w)| *w)
    }
    fn transfer(&mut self, index: usize) -> Option<crate::transfer::Transfer> {
        self.transfers.get(&index).copied()
    }
}

fn server() -> FakeServer {
    FakeServer {
        held: vec![],
        windows: vec![],
        repaint: vec![],
        activity: Default::default(),
        transfers: Default::default(),
    }
}

/// A tracker with these options; the stall guard is off unless given, since most tests jump
/// from one moment to the next instead of waking when the tracker planned, and so is the
/// transport timeout, whose looks at sockets would come between the deadlines a test counts.
fn tracker(pairs: &[(&str, &str)]) -> Tracker {
    let mut pairs = pairs.to_vec();
    for (name, off) in [("StallGuard", "0"), ("TransportTimeout", "0")] {
        if !pairs.iter().any(|(n, _)| *n == name) {
            pairs.push((name, off));
        }
    }
    Tracker::new(&Config::from_options(pairs).unwrap())
}

fn info(index: usize, peer: Option<&str>) -> ClientInfo {
    ClientInfo {
        id: ClientInfo::format_id((index as u32) << 21),
        index: index as u32,
        transport: if peer.is_some() {
            Transport::Tcp
        } else {
            Transport::Local
        },
        peer: peer.map(str::to_owned),
        pid: None,
        command: None,
        service: None,
        wm_class: None,
    }
}

fn watch(t: &mut Tracker, index: usize, now: Millis) {
    let policy = t.default_policy();
    t.watch(index, info(index, Some("10.0.0.5:40000")), policy, now);
}

/// One turn of the server's loop at `now`: wake, requests of `active` clients, block.
fn turn(
    t: &mut Tracker,
    now: Millis,
    active: &[usize],
    s: &mut FakeServer,
) -> (Vec<Action>, Option<Millis>) {
    t.after_sleep(now);
    for &i in active {
        s.request(t, i, false);
    }
    t.before_sleep(now, s)
}

fn lost(actions: &[Action]) -> Vec<(usize, LostReason)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Lose {
                index,
                event: Body::Lost { reason, .. },
                ..
            } => Some((*index, *reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_idle_client_is_lost_at_its_deadline_after_grace() {
    let mut t = tracker(&[("IdleTimeout", "3s"), ("Grace", "1s")]);
    let mut s = server();
    watch(&mut t, 1, 0);
    // Grace (1 s) then 3 s of silence: due at 4 s, suspect at 2.5 s.
    let (a, wake) = turn(&mut t, 0, &[], &mut s);
    assert!(a.is_empty());
    assert_eq!(wake, Some(2500));
    let (a, wake) = turn(&mut t, 2500, &[], &mut s);
    assert!(
        matches!(
            &a[..],
            [Action::Report(Body::Suspect {
                reason: LostReason::IdleTimeout,
                ..
            })]
        ),
        "{a:?}"
    );
    assert_eq!(wake, Some(4000));
    let (a, _) = turn(&mut t, 3999, &[], &mut s);
    assert!(lost(&a).is_empty());
    let (a, wake) = turn(&mut t, 4000, &[], &mut s);
    assert_eq!(lost(&a), [(1, LostReason::IdleTimeout)]);
    assert!(matches!(
        &a[0],
        Action::Lose {
            close: true,
            event: Body::Lost {
                silent_ms: 4000,
                ..
            },
            ..
        }
    ));
    assert_eq!(wake, None, "nothing left to time");
}

#[test]
fn requests_keep_a_client_alive() {
    let mut t = tracker(&[("IdleTimeout", "3s"), ("Grace", "0")]);
    let mut s = server();
    watch(&mut t, 1, 0);
    for now in (0..60_000).step_by(1000) {
        let (a, _) = turn(&mut t, now, &[1], &mut s);
        assert!(a.is_empty(), "at {now}: {a:?}");
    }
    // Silent from 59 s: lost at 62 s.
    let (a, _) = turn(&mut t, 61_999, &[], &mut s);
    assert!(lost(&a).is_empty());
    let (a, _) = turn(&mut t, 62_000, &[], &mut s);
    assert_eq!(lost(&a), [(1, LostReason::IdleTimeout)]);
}

#[test]
fn only_no_operation_meets_the_expectation() {
    let mut t = tracker(&[("ExpectNoOperation", "1s"), ("Grace", "0")]);
    let mut s = server();
    watch(&mut t, 1, 0);
    watch(&mut t, 2, 0);
    for now in (0..5000).step_by(250) {
        t.after_sleep(now);
        s.request(&t, 1, false);
        s.request(&t, 2, true);
        let (a, _) = t.before_sleep(now, &mut s);
        if now < 1000 {
            assert!(lost(&a).is_empty());
        } else if now == 1000 {
            assert_eq!(lost(&a), [(1, LostReason::NoopMissed)]);
        } else {
            assert!(lost(&a).is_empty(), "client 2 pulses: {a:?}");
        }
    }
}

#[test]
fn a_stalled_server_convicts_nobody() {
    let mut t = tracker(&[("IdleTimeout", "3s"), ("Grace", "0"), ("StallGuard", "1s")]);
    let mut s = server();
    watch(&mut t, 1, 0);
    let (_, wake) = turn(&mut t, 0, &[1], &mut s);
    assert_eq!(wake, Some(1500));
    // The server is stopped from 1 s to 9 s and wakes 7.5 s after its plan: those 7.5 s do
    // not count, so the silent client is lost 3 s after its request in the watchdog's time.
    let (a, _) = turn(&mut t, 9000, &[], &mut s);
    assert!(lost(&a).is_empty(), "{a:?}");
    let (a, _) = turn(&mut t, 10_499, &[], &mut s);
    assert!(lost(&a).is_empty(), "{a:?}");
    let (a, _) = turn(&mut t, 10_500, &[], &mut s);
    assert_eq!(lost(&a), [(1, LostReason::IdleTimeout)]);

    // Its requests, queued while the server was stopped, are read in the dispatch after the
    // wakeup and count before the block handler decides.
    let mut t = tracker(&[("IdleTimeout", "3s"), ("Grace", "0"), ("StallGuard", "1s")]);
    watch(&mut t, 1, 0);
    turn(&mut t, 0, &[1], &mut s);
    let (a, _) = turn(&mut t, 9000, &[1], &mut s);
    assert!(a.is_empty(), "{a:?}");
}

#[test]
fn a_long_busy_stretch_is_a_stall_too() {
    let mut t = tracker(&[("IdleTimeout", "1s"), ("Grace", "0"), ("StallGuard", "1s")]);
    let mut s = server();
    watch(&mut t, 1, 0);
    t.after_sleep(100);
    // 5 s in one request: the block handler sees the gap and waits for the next dispatch.
    let (a, wake) = t.before_sleep(5100, &mut s);
    assert!(a.is_empty());
    assert_eq!(wake, Some(5100));
}

#[test]
fn a_server_grab_holds_the_others_and_not_the_grabber() {
    let mut t = tracker(&[("IdleTimeout", "3s"), ("Grace", "0")]);
    let mut s = server();
    watch(&mut t, 1, 0);
    watch(&mut t, 2, 0);
    watch(&mut t, 3, 0);
    turn(&mut t, 1000, &[1, 2, 3], &mut s);
    t.grab(1000, Some(2), &mut s); // client 2 grabs for 10 s; 1 and 3 cannot be read meanwhile
    for now in (1000..11_000).step_by(250) {
        let (a, _) = turn(&mut t, now, &[2], &mut s);
        assert!(lost(&a).is_empty(), "at {now}: {a:?}");
    }
    t.ungrab(11_000);
    // Their silence counts from the end of the grab.
    for now in (11_000..13_900).step_by(250) {
        let (a, _) = turn(&mut t, now, &[2], &mut s);
        assert!(lost(&a).is_empty(), "at {now}: {a:?}");
    }
    let mut after = Vec::new();
    for now in (13_900..14_500).step_by(100) {
        let (a, _) = turn(&mut t, now, &[2], &mut s);
        after.extend(lost(&a));
    }
    assert_eq!(
        after,
        [(1, LostReason::IdleTimeout), (3, LostReason::IdleTimeout)],
        "3 s after the grab ended"
    );
}

#[test]
fn a_grabber_that_hangs_is_convicted() {
    let mut t = tracker(&[("IdleTimeout", "3s"), ("Grace", "0")]);
    let mut s = server();
    watch(&mut t, 1, 0);
    watch(&mut t, 2, 0);
    turn(&mut t, 1000, &[1, 2], &mut s);
    t.grab(1000, Some(2), &mut s); // and then client 2 says nothing more
    let mut convicted = Vec::new();
    for now in (1000..6000).step_by(100) {
        let (a, _) = turn(&mut t, now, &[], &mut s);
        convicted.extend(lost(&a));
    }
    assert_eq!(
        convicted,
        [(2, LostReason::IdleTimeout)],
        "the grabber, at its deadline; the held one not"
    );
}

#[test]
fn a_held_client_is_not_convicted_and_its_deadline_moves_by_the_time_held() {
    let mut t = tracker(&[("IdleTimeout", "1s"), ("Grace", "0")]);
    let mut s = server();
    watch(&mut t, 1, 0);
    s.held.push(1);
    for now in (0..10_000).step_by(250) {
        let (a, _) = turn(&mut t, now, &[], &mut s);
        assert!(lost(&a).is_empty(), "at {now}: {a:?}");
    }
    s.held.clear();
    let (a, _) = turn(&mut t, 10_000, &[], &mut s);
    assert!(lost(&a).is_empty());
    let (a, _) = turn(&mut t, 10_750, &[], &mut s);
    assert_eq!(
        lost(&a),
        [(1, LostReason::IdleTimeout)],
        "its 1 s, and the time it was seen held (the first look at 500 ms to the first after)"
    );
}

#[test]
fn wm_ping_is_sent_after_grace_and_its_answer_clears_it() {
    let mut t = tracker(&[
        ("WmPing", "1s"),
        ("WmPingTimeout", "2s"),
        ("Grace", "500ms"),
    ]);
    let mut s = server();
    s.windows.push((1, 0x40_0001));
    watch(&mut t, 1, 0);
    let (a, wake) = turn(&mut t, 0, &[], &mut s);
    assert!(a.is_empty());
    assert_eq!(wake, Some(500));
    let (a, _) = turn(&mut t, 500, &[], &mut s);
    let Some(&Action::Ping {
        index: 1,
        window: 0x40_0001,
        timestamp,
    }) = a.first()
    else {
        panic!("expected a ping: {a:?}");
    };
    assert!(
        !t.on_pong(1, timestamp.wrapping_add(7)),
        "another timestamp is not ours"
    );
    t.after_sleep(600);
    assert!(t.on_pong(1, timestamp));
    let (a, wake) = t.before_sleep(600, &mut s);
    assert!(a.is_empty());
    assert_eq!(
        wake,
        Some(1500),
        "the next ping, one interval after the last"
    );
    // This time no answer: lost 2 s after the ping.
    let (a, _) = turn(&mut t, 1500, &[1], &mut s);
    assert!(matches!(a[..], [Action::Ping { .. }]));
    let (a, _) = turn(&mut t, 3499, &[1], &mut s);
    assert!(lost(&a).is_empty(), "{a:?}");
    let (a, _) = turn(&mut t, 3500, &[1], &mut s);
    assert_eq!(lost(&a), [(1, LostReason::WmPingTimeout)]);
}

#[test]
fn clients_without_a_ping_window_are_not_pinged() {
    let mut t = tracker(&[("WmPing", "1s"), ("Grace", "0")]);
    let mut s = server();
    watch(&mut t, 1, 0);
    for now in (0..10_000).step_by(1000) {
        let (a, _) = turn(&mut t, now, &[], &mut s);
        assert!(a.is_empty(), "{a:?}");
    }
}

#[test]
fn a_lost_host_pulse_takes_its_host_down() {
    let mut t = tracker(&[("Grace", "0")]);
    let mut s = server();
    let pulse = Policy {
        expect_noop: Some(1000),
        host_scope: true,
        ..t.default_policy()
    };
    t.watch(1, info(1, Some("10.0.0.5:40001")), pulse, 0);
    t.watch(2, info(2, Some("10.0.0.5:40002")), t.default_policy(), 0);
    t.watch(3, info(3, Some("10.0.0.6:40003")), t.default_policy(), 0);
    let (a, _) = turn(&mut t, 1000, &[2, 3], &mut s);
    assert_eq!(
        lost(&a),
        [(1, LostReason::NoopMissed), (2, LostReason::HostPulseLost)],
        "the pulse's host goes with it, the other host stays"
    );
}

#[test]
fn notify_mode_reports_once_and_does_not_close() {
    let mut t = tracker(&[("IdleTimeout", "1s"), ("Grace", "0"), ("OnLost", "notify")]);
    let mut s = server();
    watch(&mut t, 1, 0);
    let (a, _) = turn(&mut t, 1000, &[], &mut s);
    assert!(matches!(&a[..], [Action::Lose { close: false, .. }]));
    let (a, wake) = turn(&mut t, 5000, &[], &mut s);
    assert!(a.is_empty());
    assert_eq!(wake, None);
    assert_eq!(
        t.on_gone(1, Activity::default(), false, || None),
        None,
        "its end is not reported twice"
    );
}

#[test]
fn ends_are_classified_and_our_own_closes_are_silent() {
    use crate::end::{SocketError, TcpState};
    let mut t = tracker(&[("IdleTimeout", "1s"), ("Grace", "0")]);
    let mut s = server();
    for i in 1..=4 {
        watch(&mut t, i, 0);
    }
    let (a, _) = turn(&mut t, 1000, &[2, 3, 4], &mut s);
    assert_eq!(lost(&a), [(1, LostReason::IdleTimeout)]);
    assert_eq!(
        t.on_gone(1, Activity::default(), false, || unreachable!(
            "we closed it"
        )),
        None
    );
    let timed_out = SocketEnd {
        error: Some(SocketError::TimedOut),
        state: TcpState::Closed,
        retrying: true,
        since_ack_ms: 10_000,
        window_closed: false,
        since_data_ms: 10_000,
    };
    assert!(matches!(
        t.on_gone(2, Activity::default(), false, || Some(timed_out)),
        Some(Body::Lost {
            reason: LostReason::TransportTimeout,
            ..
        })
    ));
    let fin = SocketEnd {
        error: None,
        state: TcpState::CloseWait,
        retrying: false,
        since_ack_ms: 3,
        window_closed: false,
        since_data_ms: 3,
    };
    assert!(matches!(
        t.on_gone(3, Activity::default(), false, || Some(fin)),
        Some(Body::Gone {
            reason: GoneReason::Closed,
            ..
        })
    ));
    assert!(matches!(
        t.on_gone(4, Activity::default(), true, || Some(fin)),
        Some(Body::Gone {
            reason: GoneReason::Killed,
            ..
        })
    ));
    assert_eq!(
        t.on_gone(4, Activity::default(), false, || None),
        None,
        "not watched any more"
    );
}

#[test]
fn quiet_clients_cost_nothing_between_their_deadlines() {
    let mut t = tracker(&[("IdleTimeout", "10s"), ("Grace", "0")]);
    let mut s = server();
    for i in 1..=2000 {
        watch(&mut t, i, 0);
    }
    // 1 wakeup a millisecond for 4 s: nothing is due (suspect at 5 s), nothing is looked at.
    for now in 0..4000 {
        let (a, wake) = turn(&mut t, now, &[], &mut s);
        assert!(a.is_empty());
        assert_eq!(wake, Some(5000));
    }
    assert_eq!(t.evaluations(), 0);
    // An active client costs one look a period, not one per request.
    let mut t = tracker(&[("IdleTimeout", "10s"), ("Grace", "0")]);
    watch(&mut t, 1, 0);
    for now in (0..100_000).step_by(10) {
        turn(&mut t, now, &[1], &mut s);
    }
    assert!(t.evaluations() <= 20, "{} looks", t.evaluations());
}

#[test]
fn status_shows_ages_and_suspicion() {
    let mut t = tracker(&[
        ("IdleTimeout", "4s"),
        ("ExpectNoOperation", "10s"),
        ("Grace", "0"),
    ]);
    let mut s = server();
    watch(&mut t, 1, 0);
    turn(&mut t, 1000, &[1], &mut s);
    turn(&mut t, 2500, &[], &mut s);
    let status = t.status(&mut s);
    assert_eq!(status.len(), 1);
    assert_eq!((status[0].idle_ms, status[0].noop_age_ms), (1500, 2500));
    assert!(!status[0].suspect);
    turn(&mut t, 3000, &[], &mut s);
    assert!(t.status(&mut s)[0].suspect, "half-way through IdleTimeout");
    turn(&mut t, 4100, &[1], &mut s);
    assert!(!t.status(&mut s)[0].suspect, "a request ends the suspicion");
}

#[test]
fn two_deadlines_past_half_way_are_each_suspected_once_and_the_pass_ends() {
    // IdleTimeout and ExpectNoOperation alike: a silent client passes both half-way points
    // at once (it used to be suspected of each in turn for ever, inside one pass).
    let mut t = tracker(&[
        ("IdleTimeout", "2s"),
        ("ExpectNoOperation", "2s"),
        ("Grace", "0"),
    ]);
    let mut s = server();
    watch(&mut t, 1, 0);
    let mut suspects = Vec::new();
    let mut losses = Vec::new();
    for now in (0..2500).step_by(100) {
        let (a, _) = turn(&mut t, now, &[], &mut s);
        suspects.extend(a.iter().filter_map(|a| match a {
            Action::Report(Body::Suspect { reason, .. }) => Some(*reason),
            _ => None,
        }));
        losses.extend(lost(&a));
    }
    suspects.sort_by_key(|r| r.as_str());
    assert_eq!(
        suspects,
        [LostReason::IdleTimeout, LostReason::NoopMissed],
        "each deadline once"
    );
    assert_eq!(losses.len(), 1);
}

/// `n` clients watched at 0 under IdleTimeout 1s; from `from` on, turn after turn while the
/// tracker asks for no wait, what `count` finds in each pass's actions.
fn batches(n: usize, from: Millis, count: impl Fn(&[Action]) -> usize) -> Vec<usize> {
    batches_of(MAX_LOSSES_PER_PASS, n, from, count)
}

/// [`batches`], with the tracker told to make at most `most` a pass.
fn batches_of(
    most: usize,
    n: usize,
    from: Millis,
    count: impl Fn(&[Action]) -> usize,
) -> Vec<usize> {
    let mut t = tracker(&[("IdleTimeout", "1s"), ("Grace", "0")]);
    t.set_losses_per_pass(most);
    let mut s = server();
    for i in 1..=n {
        watch(&mut t, i, 0);
    }
    let mut passes = Vec::new();
    let mut now = from;
    loop {
        let (a, wake) = turn(&mut t, now, &[], &mut s);
        passes.push(count(&a));
        match wake {
            // The rest are due at once: the server's wait is zero.
            Some(at) if at <= now => now += 1,
            _ => break,
        }
    }
    passes
}

const BATCHES: [usize; 4] = [
    MAX_LOSSES_PER_PASS,
    MAX_LOSSES_PER_PASS,
    MAX_LOSSES_PER_PASS,
    5,
];

#[test]
fn many_suspect_at_once_are_reported_a_bounded_batch_per_pass() {
    let suspects = |a: &[Action]| {
        a.iter()
            .filter(|a| matches!(a, Action::Report(Body::Suspect { .. })))
            .count()
    };
    // Half-way, all of them.
    assert_eq!(batches(3 * MAX_LOSSES_PER_PASS + 5, 500, suspects), BATCHES);
}

#[test]
fn many_lost_at_once_are_lost_a_bounded_batch_per_pass() {
    let losses = |a: &[Action]| lost(a).len();
    assert_eq!(batches(3 * MAX_LOSSES_PER_PASS + 5, 1000, losses), BATCHES);
}

#[test]
fn the_batch_is_as_small_as_the_module_says_and_never_empty() {
    let losses = |a: &[Action]| lost(a).len();
    assert_eq!(batches_of(10, 25, 1000, losses), [10, 10, 5]);
    assert_eq!(batches_of(0, 3, 1000, losses), [1, 1, 1]);
    assert_eq!(
        batches_of(1000, 40, 1000, losses),
        [MAX_LOSSES_PER_PASS, 40 - MAX_LOSSES_PER_PASS]
    );
}

#[test]
fn a_client_that_changes_its_policy_in_a_loop_keeps_the_heap_bounded_and_its_deadline() {
    let mut t = tracker(&[("IdleTimeout", "24h"), ("Grace", "0")]);
    let mut s = server();
    for index in 1..=3 {
        watch(&mut t, index, 0);
    }
    let base = t.policy(1).unwrap();
    // Two entries a slot, and the slack: what the heap holds at most.
    let bound = |t: &Tracker| 2 * t.slots.len() + COMPACT_SLACK;
    // The same policy again and again: one entry, never more.
    for _ in 0..1000 {
        t.set_policy(1, base, None);
    }
    assert_eq!(t.heap_len(), 3);
    // A million changes that each move its first due time.
    for i in 0..1_000_000u64 {
        let policy = Policy {
            idle_timeout: Some(3_000 + i % 1000),
            ..base
        };
        t.set_policy(1, policy, Some("svc".to_owned()));
        assert!(
            t.heap_len() <= bound(&t),
            "{} entries after {i}",
            t.heap_len()
        );
    }
    // Its last policy's deadline holds: lost at 3000 + 999 ms, the others are not.
    // (The stale entries it left do not hold its look back: each pass drops them unlooked.)
    let (a, _) = turn(&mut t, 3_998, &[], &mut s);
    assert!(lost(&a).is_empty());
    let (a, _) = turn(&mut t, 3_999, &[], &mut s);
    assert_eq!(lost(&a), [(1, LostReason::IdleTimeout)]);
    // A client that leaves leaves no entries behind once the heap is compacted.
    t.unwatch(2);
    t.unwatch(3);
    t.set_policy(4, base, None); // not watched: nothing pushed
    assert!(t.heap_len() <= 2);
    watch(&mut t, 5, 4_000);
    for i in 0..(2 * bound(&t) as u64) {
        let policy = Policy {
            idle_timeout: Some(5_000 + i),
            ..base
        };
        t.set_policy(5, policy, None);
    }
    assert!(t.heap_len() <= bound(&t));
    assert!(
        t.heap.iter().all(|Reverse(e)| e.index == 5 || e.index == 1),
        "entries of clients that left stay"
    );
}

#[test]
fn grabs_pause_the_held_clients_deadlines_and_never_restart_them() {
    let mut t = tracker(&[("IdleTimeout", "3s"), ("Grace", "0")]);
    let mut s = server();
    watch(&mut t, 1, 0); // hung from 1000 on
    watch(&mut t, 2, 0); // grabs for 50 ms every second
    turn(&mut t, 1000, &[1, 2], &mut s);
    let mut held = 0;
    let mut lost_at = None;
    let mut now = 1000;
    while now < 20_000 && lost_at.is_none() {
        if now % 1000 == 500 {
            t.grab(now, Some(2), &mut s);
        }
        if now % 1000 == 550 {
            t.ungrab(now);
            held += 50;
        }
        let (a, _) = turn(&mut t, now, &[2], &mut s);
        if lost(&a).contains(&(1, LostReason::IdleTimeout)) {
            lost_at = Some(now);
        }
        assert!(
            !lost(&a).contains(&(2, LostReason::IdleTimeout)),
            "the grabber at {now}"
        );
        now += 10;
    }
    let lost_at = lost_at.expect("the hung client is lost while the other grabs");
    // Its 3 s from 1000, and the grabs that held it before then: three of them (4150).
    assert!(
        (4150..=4250).contains(&lost_at),
        "lost at {lost_at}, {held} ms held in all"
    );
}

#[test]
fn a_request_after_a_grab_counts_without_the_grabs_before_it() {
    let mut t = tracker(&[("IdleTimeout", "3s"), ("Grace", "0")]);
    let mut s = server();
    watch(&mut t, 1, 0);
    watch(&mut t, 2, 0);
    t.grab(100, Some(2), &mut s);
    turn(&mut t, 600, &[2], &mut s);
    t.ungrab(1100); // 1 s held
    // Client 1 sends at 2000 and hangs: its deadline is 5000, the grab before it is no pause.
    let mut lost_at = None;
    for now in (1100..7000).step_by(10) {
        let active: &[usize] = if now == 2000 { &[1, 2] } else { &[2] };
        let (a, _) = turn(&mut t, now, active, &mut s);
        if lost(&a).contains(&(1, LostReason::IdleTimeout)) {
            lost_at.get_or_insert(now);
        }
    }
    assert_eq!(lost_at, Some(5000));
}

#[test]
fn a_request_just_before_a_grab_gets_the_whole_grab_added() {
    let mut t = tracker(&[("IdleTimeout", "3s"), ("Grace", "0")]);
    let mut s = server();
    watch(&mut t, 1, 0);
    watch(&mut t, 2, 0);
    // Looked at at 1500 (its half-way point), a request at 1600, a grab 1700..2400.
    let mut lost_at = None;
    for now in (0..8000).step_by(10) {
        if now == 1700 {
            t.grab(now, Some(2), &mut s);
        }
        if now == 2400 {
            t.ungrab(now);
        }
        let active: &[usize] = if now == 1600 { &[1, 2] } else { &[2] };
        let (a, _) = turn(&mut t, now, active, &mut s);
        if lost(&a).contains(&(1, LostReason::IdleTimeout)) {
            lost_at.get_or_insert(now);
        }
    }
    assert_eq!(
        lost_at,
        Some(1600 + 3000 + 700),
        "the grab is paid back in full"
    );
}

#[test]
fn output_that_stops_moving_loses_a_tcp_client_even_through_a_grab() {
    use crate::transfer::Transfer;
    let mut t = tracker(&[("TransportTimeout", "3s"), ("Grace", "0")]);
    let mut s = server();
    watch(&mut t, 1, 0);
    s.transfers.insert(
        1,
        Transfer {
            waiting: false,
            in_flight: false,
            probes: 0,
            acked: 0,
            since_ack_ms: 0,
        },
    );
    // Looked at every 300 ms while nothing waits.
    let (a, wake) = turn(&mut t, 0, &[], &mut s);
    assert!(a.is_empty());
    assert_eq!(wake, Some(300));
    let (a, wake) = turn(&mut t, 300, &[], &mut s);
    assert!(a.is_empty());
    assert_eq!(wake, Some(600));
    // Another client grabs the server; output to client 1 is sent and never acknowledged.
    t.grab(400, Some(2), &mut s);
    let mut now = 600;
    let mut seen = vec![];
    while now < 10_000 {
        s.transfers.insert(
            1,
            Transfer {
                waiting: true,
                in_flight: true,
                probes: 0,
                acked: 0,
                since_ack_ms: now - 500,
            },
        );
        let (a, wake) = turn(&mut t, now, &[], &mut s);
        seen.extend(lost(&a));
        if !seen.is_empty() {
            break;
        }
        now = wake.expect("looks go on");
    }
    assert_eq!(seen, [(1, LostReason::TransportTimeout)]);
    // Last acknowledged at 500: lost when 3 s have passed since, or at the first look of the
    // grab's recheck (every 250 ms) after that.
    assert!((3_500..=3_750).contains(&now), "lost at {now}");
}

#[test]
fn a_client_without_a_tcp_socket_is_not_looked_at_for_its_transfer() {
    let mut t = tracker(&[("TransportTimeout", "3s"), ("Grace", "0")]);
    let mut s = server();
    watch(&mut t, 1, 0);
    let (_, wake) = turn(&mut t, 0, &[], &mut s);
    assert_eq!(wake, Some(300));
    // The probe finds no socket: no more looks.
    let (_, wake) = turn(&mut t, 300, &[], &mut s);
    assert_eq!(wake, None);
    let local = t.default_policy();
    t.watch(2, info(2, None), local, 400);
    let (_, wake) = turn(&mut t, 400, &[], &mut s);
    assert_eq!(wake, None, "a local client has no transfer to look at");
}

fn repaints(actions: &[Action]) -> Vec<(usize, u32)> {
    actions
        .iter()
        .filter_map(|a| match *a {
            Action::Repaint { index, window } => Some((index, window)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_quiet_client_is_probed_and_any_request_answers_the_probe() {
    let mut t = tracker(&[
        ("RepaintProbe", "1s"),
        ("RepaintProbeTimeout", "2s"),
        ("Grace", "500ms"),
    ]);
    let mut s = server();
    s.repaint.push((1, 0x40_0005));
    watch(&mut t, 1, 0);
    let (a, wake) = turn(&mut t, 0, &[], &mut s);
    assert!(a.is_empty());
    assert_eq!(wake, Some(1500), "grace, then a quiet interval");
    let (a, _) = turn(&mut t, 1500, &[], &mut s);
    assert_eq!(repaints(&a), [(1, 0x40_0005)]);
    // Its repaint, a request after the probe, answers it; the next probe comes a quiet
    // interval after that request.
    let (a, _) = turn(&mut t, 1600, &[1], &mut s);
    assert!(a.is_empty(), "{a:?}");
    let (a, _) = turn(&mut t, 2599, &[], &mut s);
    assert!(a.is_empty(), "{a:?}");
    let (a, _) = turn(&mut t, 2600, &[], &mut s);
    assert_eq!(repaints(&a), [(1, 0x40_0005)]);
    // Unanswered: suspect half-way, lost at the timeout.
    let (a, _) = turn(&mut t, 3600, &[], &mut s);
    assert!(matches!(
        a[..],
        [Action::Report(Body::Suspect {
            reason: LostReason::RepaintTimeout,
            ..
        })]
    ));
    let (a, _) = turn(&mut t, 4599, &[], &mut s);
    assert!(lost(&a).is_empty(), "{a:?}");
    let (a, _) = turn(&mut t, 4600, &[], &mut s);
    assert_eq!(lost(&a), [(1, LostReason::RepaintTimeout)]);
    let Some(Action::Lose {
        event: Body::Lost { silent_ms, .. },
        ..
    }) = a.first()
    else {
        unreachable!()
    };
    assert_eq!(*silent_ms, 3000, "silent since its last request, at 1600");
}

#[test]
fn an_answer_seen_in_the_probes_own_millisecond_answers_it() {
    // ListClients, a grab or a launcher's replay looks at every client between requests:
    // one in the millisecond of the probe stamps the answer with the probe's own time.
    let mut t = tracker(&[("RepaintProbe", "1s"), ("Grace", "0")]);
    let mut s = server();
    s.repaint.push((1, 7));
    watch(&mut t, 1, 0);
    turn(&mut t, 0, &[], &mut s);
    let (a, _) = turn(&mut t, 1000, &[], &mut s);
    assert_eq!(repaints(&a), [(1, 7)]);
    s.request(&t, 1, false);
    t.status(&mut s);
    let (a, _) = turn(&mut t, 2000, &[], &mut s);
    assert_eq!(
        repaints(&a),
        [(1, 7)],
        "answered: the next probe, a quiet interval on"
    );
    assert!(lost(&a).is_empty());
}

#[test]
fn a_look_without_a_request_does_not_answer_the_probe() {
    let mut t = tracker(&[("RepaintProbe", "1s"), ("Grace", "0")]);
    let mut s = server();
    s.repaint.push((1, 7));
    watch(&mut t, 1, 0);
    turn(&mut t, 0, &[], &mut s);
    let (a, _) = turn(&mut t, 1000, &[], &mut s);
    assert_eq!(repaints(&a), [(1, 7)]);
    t.status(&mut s);
    let (a, _) = turn(&mut t, 2999, &[], &mut s);
    assert!(lost(&a).is_empty(), "{a:?}");
    let (a, _) = turn(&mut t, 3000, &[], &mut s);
    assert_eq!(lost(&a), [(1, LostReason::RepaintTimeout)]);
}

#[test]
fn a_client_active_within_the_interval_is_never_probed() {
    let mut t = tracker(&[("RepaintProbe", "1s"), ("Grace", "0")]);
    let mut s = server();
    s.repaint.push((1, 7));
    watch(&mut t, 1, 0);
    for now in (0..20_000).step_by(900) {
        let (a, _) = turn(&mut t, now, &[1], &mut s);
        assert!(a.is_empty(), "at {now}: {a:?}");
    }
}

#[test]
fn a_client_with_no_window_to_probe_is_neither_probed_nor_convicted() {
    let mut t = tracker(&[("RepaintProbe", "1s"), ("Grace", "0")]);
    let mut s = server();
    watch(&mut t, 1, 0);
    for now in (0..10_000).step_by(500) {
        let (a, _) = turn(&mut t, now, &[], &mut s);
        assert!(a.is_empty(), "at {now}: {a:?}");
    }
    // Its window appears (mapped, exposures selected): the next due probe goes to it.
    s.repaint.push((1, 9));
    let (a, _) = turn(&mut t, 10_000, &[], &mut s);
    assert_eq!(repaints(&a), [(1, 9)]);
}

#[test]
fn with_wm_ping_on_a_client_that_lists_the_ping_is_pinged_and_the_others_probed() {
    let mut t = tracker(&[("WmPing", "1s"), ("RepaintProbe", "1s"), ("Grace", "0")]);
    let mut s = server();
    s.windows.push((1, 0x20_0001));
    s.repaint.push((1, 0x20_0002));
    s.repaint.push((2, 0x40_0002));
    watch(&mut t, 1, 0);
    watch(&mut t, 2, 0);
    let (mut a, _) = turn(&mut t, 0, &[], &mut s);
    a.extend(turn(&mut t, 1000, &[], &mut s).0);
    assert!(
        a.iter().any(|a| matches!(a, Action::Ping { index: 1, .. })),
        "{a:?}"
    );
    assert_eq!(repaints(&a), [(2, 0x40_0002)]);
}

#[test]
fn a_held_client_is_not_probed_and_the_hold_moves_its_deadline() {
    let mut t = tracker(&[
        ("RepaintProbe", "1s"),
        ("RepaintProbeTimeout", "2s"),
        ("Grace", "0"),
    ]);
    let mut s = server();
    s.repaint.push((1, 7));
    watch(&mut t, 1, 0);
    turn(&mut t, 0, &[], &mut s);
    s.held.push(1);
    for now in (1000..5000).step_by(250) {
        let (a, _) = turn(&mut t, now, &[], &mut s);
        assert!(a.is_empty(), "at {now}: {a:?}");
    }
    s.held.clear();
    // Its quiet interval had passed when the hold began: the probe goes out at the first look
    // after it.
    let (a, _) = turn(&mut t, 5000, &[], &mut s);
    assert_eq!(repaints(&a), [(1, 7)]);
    // Held again while the probe is out, from its first look after the probe (its half-way
    // point, 6000) to the first that does not see it held (8000): the deadline moves 2 s.
    s.held.push(1);
    for now in (6000..8000).step_by(250) {
        let (a, _) = turn(&mut t, now, &[], &mut s);
        assert!(a.is_empty(), "at {now}: {a:?}");
    }
    s.held.clear();
    let (a, _) = turn(&mut t, 8000, &[], &mut s);
    assert!(lost(&a).is_empty(), "{a:?}");
    let (a, _) = turn(&mut t, 8999, &[], &mut s);
    assert!(lost(&a).is_empty(), "{a:?}");
    let (a, _) = turn(&mut t, 9000, &[], &mut s);
    assert_eq!(lost(&a), [(1, LostReason::RepaintTimeout)]);
}

fn recovered(bodies: &[Body]) -> Vec<(u32, Millis)> {
    bodies
        .iter()
        .filter_map(|b| match b {
            Body::Recovered { client, silent_ms } => Some((client.index, *silent_ms)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_suspect_client_that_sends_a_request_recovers_once_with_its_silence() {
    let mut t = tracker(&[("IdleTimeout", "4s"), ("Grace", "0")]);
    let mut s = server();
    watch(&mut t, 1, 0);
    watch(&mut t, 2, 0);
    assert!(t.recoveries(&mut s).is_empty(), "nobody was suspect");
    let (a, _) = turn(&mut t, 2000, &[], &mut s);
    assert_eq!(a.len(), 2, "both suspect: {a:?}");
    assert!(t.recoveries(&mut s).is_empty(), "no sign of life yet");
    // Client 1 sends a request at 2600; the next pass (10 ms later) reports it.
    t.after_sleep(2600);
    s.request(&t, 1, false);
    t.before_sleep(2600, &mut s);
    t.after_sleep(2610);
    assert_eq!(recovered(&t.recoveries(&mut s)), [(1, 2600)]);
    assert!(t.recoveries(&mut s).is_empty(), "reported once");
    // Client 2 stays silent and is lost: no recovery for it, ever.
    let (a, _) = turn(&mut t, 4000, &[], &mut s);
    assert_eq!(lost(&a), [(2, LostReason::IdleTimeout)]);
    assert!(t.recoveries(&mut s).is_empty());
    // Client 1 can be suspect again, and recovers again.
    let (a, _) = turn(&mut t, 4600, &[], &mut s);
    assert!(
        matches!(&a[..], [Action::Report(Body::Suspect { .. })]),
        "{a:?}"
    );
    t.after_sleep(5000);
    s.request(&t, 1, false);
    assert_eq!(recovered(&t.recoveries(&mut s)), [(1, 2400)]);
}

#[test]
fn an_answered_ping_recovers_a_client_suspect_of_it() {
    let mut t = tracker(&[("WmPing", "1s"), ("WmPingTimeout", "2s"), ("Grace", "0")]);
    let mut s = server();
    s.windows.push((1, 77));
    watch(&mut t, 1, 0);
    let (a, _) = turn(&mut t, 0, &[], &mut s);
    let Some(&Action::Ping { timestamp, .. }) = a.first() else {
        panic!("pinged at once: {a:?}");
    };
    let (a, _) = turn(&mut t, 1000, &[], &mut s);
    assert!(
        matches!(
            &a[..],
            [Action::Report(Body::Suspect {
                reason: LostReason::WmPingTimeout,
                ..
            })]
        ),
        "{a:?}"
    );
    t.after_sleep(1300);
    assert!(t.on_pong(1, timestamp));
    assert_eq!(recovered(&t.recoveries(&mut s)), [(1, 1300)]);
}

#[test]
fn identity_changes_are_told_once_and_unwatch_returns_the_client() {
    let mut t = tracker(&[("Grace", "0")]);
    watch(&mut t, 1, 0);
    let policy = t.default_policy();
    assert!(
        !t.set_policy(1, policy, None),
        "no service before, none now"
    );
    assert_eq!(t.identity_changed(1, None), None);
    assert!(t.set_policy(1, policy, Some("plant-view".into())));
    let updated = t.identity_changed(1, None);
    assert_eq!(updated.and_then(|c| c.service), Some("plant-view".into()));
    assert_eq!(t.identity_changed(1, None), None, "told once");
    // Back and forth between two passes: nothing new to tell.
    assert!(t.set_policy(1, policy, Some("other".into())));
    assert!(!t.set_policy(1, policy, Some("plant-view".into())));
    assert_eq!(t.identity_changed(1, None), None);
    let class = ["xclock".to_owned(), "XClock".to_owned()];
    let updated = t
        .identity_changed(1, Some(class.clone()))
        .expect("a new class");
    assert_eq!(updated.wm_class, Some(class.clone()));
    assert_eq!(
        t.identity_changed(1, Some(class.clone())),
        None,
        "the same class again"
    );
    let other = ["xclock".to_owned(), "Other".to_owned()];
    assert_eq!(
        t.identity_changed(1, Some(other.clone()))
            .and_then(|c| c.wm_class),
        Some(other)
    );
    assert_eq!(t.identity_changed(2, Some(class)), None, "not watched");
    assert_eq!(t.unwatch(1).map(|c| c.index), Some(1));
    assert_eq!(t.unwatch(1), None);
}

#[test]
fn recoveries_are_paced_as_losses_are() {
    let mut t = tracker(&[("IdleTimeout", "4s"), ("Grace", "0")]);
    let mut s = server();
    for i in 1..=3 {
        watch(&mut t, i, 0);
    }
    let (a, _) = turn(&mut t, 2000, &[], &mut s);
    assert_eq!(a.len(), 3, "all suspect: {a:?}");
    t.set_losses_per_pass(2);
    t.after_sleep(2500);
    for i in 1..=3 {
        s.request(&t, i, false);
    }
    assert_eq!(recovered(&t.recoveries(&mut s)).len(), 2, "two a pass");
    assert_eq!(
        recovered(&t.recoveries(&mut s)).len(),
        1,
        "the third at the next"
    );
    assert!(t.recoveries(&mut s).is_empty());
}
