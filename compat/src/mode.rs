//! The detection modes the table measures: each is a server configuration, in the contract's
//! option names, and the `lost` reason that mode convicts with.
//!
//! A mode adds two columns to the table: whether a hung instance is caught (and how fast), and
//! whether a healthy idle one is kept. A later mode (`RepaintProbe`) is one more constant here
//! and in [`MODES`].

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
    /// The reason of a `lost` event this mode made.
    pub reason: LostReason,
    /// The longest a hung client may go unconvicted by this mode's options: the bound the
    /// contract promises (an interval plus a timeout, or a timeout).
    pub deadline: Duration,
}

/// The server pings every second and convicts a client whose answer is two seconds late.
pub const WM_PING: Mode = Mode {
    name: "WmPing",
    options: "WmPing=1s;WmPingTimeout=2s",
    described: "`WmPing 1s`, `WmPingTimeout 2s`",
    reason: LostReason::WmPingTimeout,
    deadline: Duration::from_secs(3),
};

/// A client that sends no request for three seconds is lost.
pub const IDLE_TIMEOUT: Mode = Mode {
    name: "IdleTimeout",
    options: "IdleTimeout=3s",
    described: "`IdleTimeout 3s`",
    reason: LostReason::IdleTimeout,
    deadline: Duration::from_secs(3),
};

/// The modes measured, in the table's order.
pub const MODES: &[Mode] = &[WM_PING, IDLE_TIMEOUT];

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
}
