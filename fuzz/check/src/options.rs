//! The module options: `watchdog::Config::from_options` on any name/value pairs, and
//! `options::split_env` on any `LIFESIGN_OPTIONS`.
//!
//! Input: text; each line is a pair, split at its first `=` (xorg.conf's `Option "Name"
//! "value"`); the whole text is also read as `LIFESIGN_OPTIONS`.

use lifesign_formats::duration::display;
use lifesign_watchdog::options::split_env;
use lifesign_watchdog::{Config, ListClients, OnLost, OptionError, Watch};
use std::time::Duration;

const MIN_DEADLINE: Duration = Duration::from_millis(100);
const MIN_TRANSPORT: Duration = Duration::from_secs(2);
const MAX: Duration = Duration::from_secs(24 * 3600);

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let pairs: Vec<(&str, &str)> = text
        .lines()
        .map(|line| line.split_once('=').unwrap_or((line, "")))
        .collect();
    pairs_hold(&pairs);
    match split_env(text) {
        Ok(items) => {
            for (name, value) in &items {
                assert!(!name.is_empty() && name.trim() == name, "{name:?}");
                assert_eq!(value.trim(), value);
                assert!(!name.contains(';') && !value.contains(';'));
            }
            let items: Vec<(&str, &str)> = items
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            pairs_hold(&items);
        }
        Err(e) => assert_eq!(e.option, "LIFESIGN_OPTIONS"),
    }
}

/// What `from_options` makes of `pairs` is consistent, and a good configuration round-trips.
fn pairs_hold(pairs: &[(&str, &str)]) {
    match Config::from_options(pairs.iter().copied()) {
        Ok(config) => {
            in_range(&config);
            let _ = config.summary();
            // No option may be given twice, so their order does not matter.
            let reversed = Config::from_options(pairs.iter().rev().copied());
            assert_eq!(reversed.as_ref(), Ok(&config));
            // Written back as options, the configuration reads as itself.
            let written = as_options(&config);
            let again = Config::from_options(written.iter().map(|(n, v)| (*n, v.as_str())));
            assert_eq!(again.as_ref(), Ok(&config), "{written:?}");
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            assert!(errors.len() <= pairs.len());
            for OptionError {
                option,
                value,
                expected,
            } in &errors
            {
                assert!(
                    pairs.iter().any(|(n, v)| n == option && v == value),
                    "{option:?}={value:?} was not given"
                );
                assert!(!expected.is_empty());
            }
        }
    }
}

/// Every duration is off or within its option's range.
fn in_range(c: &Config) {
    let within = |d: Duration, min: Duration| assert!((min..=MAX).contains(&d), "{d:?}");
    for (d, min) in [
        (c.transport_timeout, MIN_TRANSPORT),
        (c.idle_timeout, MIN_DEADLINE),
        (c.expect_noop, MIN_DEADLINE),
        (c.wm_ping, MIN_DEADLINE),
        (c.stall_guard, MIN_DEADLINE),
    ] {
        if let Some(d) = d {
            within(d, min);
        }
    }
    within(c.wm_ping_timeout, MIN_DEADLINE);
    within(c.grace, Duration::ZERO);
    if let Some(path) = &c.launcher {
        assert!(path.is_absolute(), "{path:?}");
    }
}

/// The options that give `config`. Every field is named (no `..`), so an option added to
/// `Config` does not compile here until it round-trips too.
fn as_options(config: &Config) -> Vec<(&'static str, String)> {
    let Config {
        watch,
        watch_peers,
        transport_timeout,
        idle_timeout,
        expect_noop,
        wm_ping,
        wm_ping_timeout,
        repaint_probe,
        repaint_probe_timeout,
        grace,
        stall_guard,
        on_lost,
        launcher,
        list_clients,
        host_scope,
    } = config;
    let off = |d: &Option<Duration>| d.map_or_else(|| "0".to_owned(), display);
    let peers: Vec<String> = watch_peers.iter().map(ToString::to_string).collect();
    vec![
        (
            "Watch",
            match watch {
                Watch::All => "all",
                Watch::Tcp => "tcp",
                Watch::Local => "local",
                Watch::None => "none",
            }
            .to_owned(),
        ),
        ("WatchPeers", peers.join(",")),
        ("TransportTimeout", off(transport_timeout)),
        ("IdleTimeout", off(idle_timeout)),
        ("ExpectNoOperation", off(expect_noop)),
        ("WmPing", off(wm_ping)),
        ("WmPingTimeout", display(*wm_ping_timeout)),
        ("RepaintProbe", off(repaint_probe)),
        ("RepaintProbeTimeout", display(*repaint_probe_timeout)),
        ("Grace", display(*grace)),
        ("StallGuard", off(stall_guard)),
        (
            "OnLost",
            match on_lost {
                OnLost::Close => "close",
                OnLost::Notify => "notify",
            }
            .to_owned(),
        ),
        (
            "Launcher",
            launcher.as_ref().map_or_else(
                || "none".to_owned(),
                |p| p.to_str().expect("from a str").to_owned(),
            ),
        ),
        (
            "ListClients",
            match list_clients {
                ListClients::All => "all",
                ListClients::Local => "local",
                ListClients::Own => "self",
            }
            .to_owned(),
        ),
        ("HostScope", host_scope.to_string()),
    ]
}
