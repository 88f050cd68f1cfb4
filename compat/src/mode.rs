//! The detection modes the table measures: each is a server configuration, in the contract's
//! option names, and the `lost` reason that mode convicts with.
//!
//! A mode adds two columns to the table: whether a hung instance is caught (and how fast), and
//! whether a healthy idle one is kept. A new mode is one more constant here and in [`MODES`].

use lifesign_proto::event::LostReason;
use std::time::Duration;

/// One way the module can notice a hung application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// The option that turns it on, as the table names the mode.
    pub name: &'static str,
    /// Its options, as `LIFESIGN_OPTIONS` takes them (`Name=value;...`).
    pub options: &'static str,
    /// What the same options say in xorg.conf words, for the table's header.
    pub described: &'static str,
    /// The reasons of the `lost` events this mode makes: one, or one per way of asking when
    /// the mode combines two (which one a client gets depends on its toolkit).
    pub reasons: &'static [LostReason],
    /// The longest a hung client may go unconvicted by this mode's options: the bound the
    /// contract promises (an interval plus a timeout, or a timeout).
    pub deadline: Duration,
    /// The idle instance's answers to repaint probes are recorded (RECORD) and its windows'
    /// pixels compared before and after them: what a probe costs each toolkit. Measured under
    /// one mode only, where every toolkit is probed.
    pub measures_repaint: bool,
}

/// The server pings every second and convicts a client whose answer is two seconds late.
pub const WM_PING: Mode = Mode {
    name: "WmPing",
    options: "WmPing=1s;WmPingTimeout=2s",
    described: "`WmPing 1s`, `WmPingTimeout 2s`",
    reasons: &[LostReason::WmPingTimeout],
    deadline: Duration::from_secs(3),
    measures_repaint: false,
};

/// A client that sends no request for three seconds is lost.
pub const IDLE_TIMEOUT: Mode = Mode {
    name: "IdleTimeout",
    options: "IdleTimeout=3s",
    described: "`IdleTimeout 3s`",
    reasons: &[LostReason::IdleTimeout],
    deadline: Duration::from_secs(3),
    measures_repaint: false,
};

/// A client quiet for a second gets a one-pixel Expose and has two seconds to send anything.
pub const REPAINT_PROBE: Mode = Mode {
    name: "RepaintProbe",
    options: "RepaintProbe=1s;RepaintProbeTimeout=2s",
    described: "`RepaintProbe 1s`, `RepaintProbeTimeout 2s`",
    reasons: &[LostReason::RepaintTimeout],
    deadline: Duration::from_secs(3),
    measures_repaint: true,
};

/// Both: a client listing `_NET_WM_PING` is pinged, any other probed (decision 64), so each
/// toolkit is asked the way it answers without being asked twice.
pub const WM_PING_AND_REPAINT: Mode = Mode {
    name: "WmPing + RepaintProbe",
    options: "WmPing=1s;WmPingTimeout=2s;RepaintProbe=1s;RepaintProbeTimeout=2s",
    described: "`WmPing 1s`, `WmPingTimeout 2s`, `RepaintProbe 1s`, `RepaintProbeTimeout 2s`",
    reasons: &[LostReason::WmPingTimeout, LostReason::RepaintTimeout],
    deadline: Duration::from_secs(3),
    measures_repaint: false,
};

/// The modes measured, in the table's order.
pub const MODES: &[Mode] = &[WM_PING, IDLE_TIMEOUT, REPAINT_PROBE, WM_PING_AND_REPAINT];

/// Options every measurement's server has besides its mode's: every client watched (the
/// applications are local), deadlines counting a second after connection setup rather than
/// the default ten, no transport checks (nothing of the network is measured), no launcher.
pub const COMMON_OPTIONS: &str = "Watch=all;Grace=1s;TransportTimeout=0;Launcher=none";

impl Mode {
    /// The whole `LIFESIGN_OPTIONS` value of a server measuring this mode.
    pub fn server_options(&self) -> String {
        format!("{COMMON_OPTIONS};{}", self.options)
    }

    /// How long after a SIGSTOP a loss is waited for: the mode's deadline, plus room for the
    /// load of a 2-core machine running many servers and applications at once.
    pub fn catch_bound(&self) -> Duration {
        self.deadline + Duration::from_secs(5)
    }

    /// True if a `lost` for `reason` is one this mode makes.
    pub fn convicts_with(&self, reason: LostReason) -> bool {
        self.reasons.contains(&reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifesign_watchdog::options::{Config, split_env};

    #[test]
    fn every_mode_is_a_configuration_the_module_takes() {
        for mode in MODES {
            let pairs = split_env(&mode.server_options()).expect("Name=value items");
            let config = Config::from_options(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            assert!(config.is_ok(), "{}: {:?}", mode.name, config.err());
        }
    }

    #[test]
    fn one_mode_measures_what_a_repaint_costs() {
        let measuring: Vec<&str> = MODES
            .iter()
            .filter(|m| m.measures_repaint)
            .map(|m| m.name)
            .collect();
        assert_eq!(measuring, ["RepaintProbe"]);
    }
}
