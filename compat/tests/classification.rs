//! Keeps docs/compatibility.md's generator honest, cheaply: its measurement, run for one
//! toolkit that answers `_NET_WM_PING` (GTK 3: zenity) and one that does not list it (Tk:
//! wish), with a short idle period, must classify each as the table says; and under the
//! repaint probe, Tk's hang is caught, its idle instance kept and its answers recorded.
//!
//! Needs zenity and wish (Debian's `zenity` and `tk`), and the module built.

use lifesign_compat::cost::Visible;
use lifesign_compat::measure::{Hung, Idle, Observed, ServerKind, Settings, measure};
use lifesign_compat::mode::{IDLE_TIMEOUT, Mode, REPAINT_PROBE, WM_PING};
use lifesign_compat::report::{caught_cell, kept_cell};
use lifesign_compat::toolkits::{Context, find};
use lifesign_compat::window::PingAnswer;
use lifesign_proto::event::LostReason;
use std::time::Duration;

/// On top of a mode's deadline: a 2-core machine running the rest of the suite.
const MARGIN: Duration = Duration::from_secs(2);

fn settings() -> Settings {
    Settings {
        idle: Duration::from_secs(6),
        start_timeout: Duration::from_secs(30),
        server: ServerKind::Xvfb,
        context: Context::in_tree(),
        verbose: true,
    }
}

fn run(toolkit: &str, mode: Mode, settings: &Settings) -> Observed {
    let toolkit = find(toolkit).expect("a toolkit of the table");
    measure(toolkit, &mode, settings)
        .unwrap_or_else(|e| panic!("{} under {}: {e}", toolkit.name, mode.name))
}

/// Measures the toolkit under WmPing and IdleTimeout at once.
fn both_modes(toolkit: &str) -> (Observed, Observed) {
    let settings = settings();
    let run = |mode: Mode| run(toolkit, mode, &settings);
    std::thread::scope(|s| {
        let ping = s.spawn(|| run(WM_PING));
        let idle = s.spawn(|| run(IDLE_TIMEOUT));
        (ping.join().unwrap(), idle.join().unwrap())
    })
}

fn assert_caught(mode: &Mode, observed: &Observed) {
    match observed.hung {
        Hung::Caught { reason, after } => {
            assert!(mode.convicts_with(reason), "{observed:?}");
            assert!(
                after <= mode.deadline + MARGIN,
                "caught too late: {observed:?}"
            );
        }
        other => panic!("a hang not caught by {}: {other:?}", mode.name),
    }
    assert!(caught_cell(mode, &Ok(*observed)).starts_with("yes, "));
}

#[test]
fn gtk3_answers_pings_and_its_hang_is_caught_by_both_modes() {
    let (wm_ping, idle_timeout) = both_modes("GTK 3");
    for observed in [&wm_ping, &idle_timeout] {
        assert!(observed.facts.lists_ping, "{observed:?}");
        assert_eq!(observed.facts.ping, PingAnswer::Answered, "{observed:?}");
    }
    assert_caught(&WM_PING, &wm_ping);
    assert_caught(&IDLE_TIMEOUT, &idle_timeout);
    // Healthy and idle: answering the server's pings keeps it; IdleTimeout takes it.
    assert!(matches!(wm_ping.idle, Idle::Kept(_)), "{wm_ping:?}");
    let reason = LostReason::IdleTimeout;
    assert!(
        matches!(idle_timeout.idle, Idle::Lost { reason: r, .. } if r == reason),
        "{idle_timeout:?}"
    );
    assert_eq!(kept_cell(&Ok(wm_ping)), "yes");
    assert!(kept_cell(&Ok(idle_timeout)).starts_with("no: lost after"));
}

#[test]
fn tk_does_not_list_the_ping_so_only_idle_timeout_catches_its_hang() {
    let (wm_ping, idle_timeout) = both_modes("Tk");
    for observed in [&wm_ping, &idle_timeout] {
        assert!(!observed.facts.lists_ping, "{observed:?}");
        // Tk answers a ping sent to it all the same; the server sends none.
        assert_eq!(observed.facts.ping, PingAnswer::Answered, "{observed:?}");
    }
    assert_eq!(wm_ping.hung, Hung::NotCaught(WM_PING.catch_bound()));
    assert!(caught_cell(&WM_PING, &Ok(wm_ping)).starts_with("no (not within"));
    assert!(matches!(wm_ping.idle, Idle::Kept(_)), "{wm_ping:?}");
    assert_caught(&IDLE_TIMEOUT, &idle_timeout);
    assert!(
        matches!(idle_timeout.idle, Idle::Lost { .. }),
        "{idle_timeout:?}"
    );
}

#[test]
fn tk_under_the_repaint_probe_is_caught_hung_kept_idle_and_its_answers_counted() {
    let observed = run("Tk", REPAINT_PROBE, &settings());
    assert_caught(&REPAINT_PROBE, &observed);
    assert!(matches!(observed.idle, Idle::Kept(_)), "{observed:?}");
    let cost = observed.cost.expect("RepaintProbe measures the repaint");
    // Six seconds, probed a second after each quiet answer: a few probes, each answered.
    assert!(cost.probes >= 2, "{cost:?}");
    let (least, _, _) = cost.requests.expect("two probes or more");
    assert!(
        least >= 1,
        "every probe was answered by a request: {cost:?}"
    );
    assert!(
        matches!(cost.visible, Visible::None { .. }),
        "a one-pixel repaint leaves Tk's label as it was: {cost:?}"
    );
}
