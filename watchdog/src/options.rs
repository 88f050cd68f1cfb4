//! The module options of the contract (`../shared/product.md`, "Module options"), parsed from
//! name/value pairs as xorg.conf's `SubSection "lifesign"` or `LIFESIGN_OPTIONS` give them.
//!
//! Every value is validated; an unknown name, a value out of its range or an option given twice
//! is an [`OptionError`] naming the option, the value and the accepted form. The module then
//! stays disabled: it never guesses what an operator meant.

use ipnet::IpNet;
use lifesign_formats::duration;
use lifesign_formats::net::parse_net;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Which clients are watched without opting in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    All,
    Tcp,
    Local,
    /// Only clients that opt in through the extension.
    None,
}

/// What happens to a client declared lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnLost {
    /// Close the client (its windows disappear) and notify.
    Close,
    /// Notify only.
    Notify,
}

/// Whose details a client's ListClients request shows, besides its own (a client always
/// sees itself). The server's access control (XACE: the SECURITY extension's untrusted
/// clients) is consulted on top, for every other client shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListClients {
    /// Every client sees every watched client.
    All,
    /// Clients on the display's own host (a Unix socket, or TCP from a loopback address) see
    /// every watched client; others see only themselves.
    Local,
    /// Every client sees only itself.
    Own,
}

/// Which peers' clients may declare a host-scope pulse (`HostScope`): a pulse that stops
/// takes down every watched client of its host, so no peer may unless the operator says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostScope {
    None,
    All,
    /// TCP clients from these addresses.
    Peers(Vec<IpNet>),
}

/// The validated options. `None` durations are off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub watch: Watch,
    pub watch_peers: Vec<IpNet>,
    pub transport_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub expect_noop: Option<Duration>,
    pub wm_ping: Option<Duration>,
    pub wm_ping_timeout: Duration,
    pub repaint_probe: Option<Duration>,
    pub repaint_probe_timeout: Duration,
    pub grace: Duration,
    pub stall_guard: Option<Duration>,
    pub on_lost: OnLost,
    pub launcher: Option<PathBuf>,
    pub list_clients: ListClients,
    pub host_scope: HostScope,
}

/// The default launcher socket of the contract.
pub const DEFAULT_LAUNCHER: &str = "/run/lifesign/launcher.sock";

impl Default for Config {
    fn default() -> Self {
        Self {
            watch: Watch::Tcp,
            watch_peers: Vec::new(),
            transport_timeout: Some(Duration::from_secs(10)),
            idle_timeout: None,
            expect_noop: None,
            wm_ping: None,
            wm_ping_timeout: Duration::from_secs(2),
            repaint_probe: None,
            repaint_probe_timeout: Duration::from_secs(2),
            grace: Duration::from_secs(10),
            stall_guard: Some(Duration::from_secs(1)),
            on_lost: OnLost::Close,
            launcher: Some(PathBuf::from(DEFAULT_LAUNCHER)),
            list_clients: ListClients::Local,
            host_scope: HostScope::None,
        }
    }
}

/// A bad option: which, what it was given, what it accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionError {
    pub option: String,
    pub value: String,
    pub expected: String,
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "option \"{}\" has bad value \"{}\": expected {}",
            self.option, self.value, self.expected
        )
    }
}

impl std::error::Error for OptionError {}

/// As the option is written: `none`, `all`, or the peers separated by commas.
impl fmt::Display for HostScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::All => f.write_str("all"),
            Self::Peers(peers) => {
                let peers: Vec<String> = peers.iter().map(ToString::to_string).collect();
                f.write_str(&peers.join(","))
            }
        }
    }
}

/// The longest duration any option accepts: past a day, a deadline is a typo, not a policy.
pub(crate) const MAX: Duration = Duration::from_secs(24 * 3600);
/// The shortest request deadline: below it a healthy client on a loaded server is convicted.
pub(crate) const MIN_DEADLINE: Duration = Duration::from_millis(100);
/// Keepalive works in whole seconds: idle, then probes, each at least a second.
pub(crate) const MIN_TRANSPORT: Duration = Duration::from_secs(2);

type Setter = fn(&mut Config, &str) -> Result<(), String>;

/// Every option: its name as the contract spells it, and how it is set.
const OPTIONS: &[(&str, Setter)] = &[
    ("Watch", |c, v| {
        c.watch = match v.trim().to_ascii_lowercase().as_str() {
            "all" => Watch::All,
            "tcp" => Watch::Tcp,
            "local" => Watch::Local,
            "none" => Watch::None,
            _ => return Err("one of all, tcp, local, none".into()),
        };
        Ok(())
    }),
    ("WatchPeers", |c, v| {
        c.watch_peers = parse_peers(v).ok_or_else(|| {
            "comma-separated IP addresses or CIDRs such as 10.0.0.5,10.1.0.0/16,fd00::/8".to_owned()
        })?;
        Ok(())
    }),
    ("TransportTimeout", |c, v| {
        c.transport_timeout = optional(v, MIN_TRANSPORT)?;
        Ok(())
    }),
    ("IdleTimeout", |c, v| {
        c.idle_timeout = optional(v, MIN_DEADLINE)?;
        Ok(())
    }),
    ("ExpectNoOperation", |c, v| {
        c.expect_noop = optional(v, MIN_DEADLINE)?;
        Ok(())
    }),
    ("WmPing", |c, v| {
        c.wm_ping = optional(v, MIN_DEADLINE)?;
        Ok(())
    }),
    ("WmPingTimeout", |c, v| {
        c.wm_ping_timeout = required(v, MIN_DEADLINE)?;
        Ok(())
    }),
    ("RepaintProbe", |c, v| {
        c.repaint_probe = optional(v, MIN_DEADLINE)?;
        Ok(())
    }),
    ("RepaintProbeTimeout", |c, v| {
        c.repaint_probe_timeout = required(v, MIN_DEADLINE)?;
        Ok(())
    }),
    ("Grace", |c, v| {
        c.grace = required(v, Duration::ZERO)?;
        Ok(())
    }),
    ("StallGuard", |c, v| {
        c.stall_guard = optional(v, MIN_DEADLINE)?;
        Ok(())
    }),
    ("OnLost", |c, v| {
        c.on_lost = match v.trim().to_ascii_lowercase().as_str() {
            "close" => OnLost::Close,
            "notify" => OnLost::Notify,
            _ => return Err("one of close, notify".into()),
        };
        Ok(())
    }),
    ("ListClients", |c, v| {
        c.list_clients = match v.trim().to_ascii_lowercase().as_str() {
            "all" => ListClients::All,
            "local" => ListClients::Local,
            "self" => ListClients::Own,
            _ => return Err("one of all, local, self".into()),
        };
        Ok(())
    }),
    ("HostScope", |c, v| {
        const FORM: &str =
            "none, all, or comma-separated IP addresses or CIDRs such as 10.0.0.5,10.1.0.0/16";
        c.host_scope = match v.trim().to_ascii_lowercase().as_str() {
            "none" => HostScope::None,
            "all" => HostScope::All,
            _ => match parse_peers(v) {
                Some(peers) if !peers.is_empty() => HostScope::Peers(peers),
                _ => return Err(FORM.into()),
            },
        };
        Ok(())
    }),
    ("Launcher", |c, v| {
        let v = v.trim();
        c.launcher = if v.eq_ignore_ascii_case("none") {
            None
        } else if v.starts_with('/') {
            Some(PathBuf::from(v))
        } else {
            return Err("an absolute socket path, or none".into());
        };
        Ok(())
    }),
];

impl Config {
    /// Builds the configuration from name/value pairs, in the order given. Names match the
    /// way the server matches option names (case, `_` and spaces do not count).
    pub fn from_options<'a, I>(pairs: I) -> Result<Self, Vec<OptionError>>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut config = Self::default();
        let mut seen: Vec<&'static str> = Vec::new();
        let mut errors = Vec::new();
        for (name, value) in pairs {
            let error = |expected: String| OptionError {
                option: name.to_owned(),
                value: value.to_owned(),
                expected,
            };
            let Some(&(canonical, set)) = OPTIONS.iter().find(|(n, _)| same_name(n, name)) else {
                let names: Vec<&str> = OPTIONS.iter().map(|(n, _)| *n).collect();
                errors.push(error(format!("a known option name: {}", names.join(", "))));
                continue;
            };
            if seen.contains(&canonical) {
                errors.push(error(format!("{canonical} given once only")));
                continue;
            }
            seen.push(canonical);
            if let Err(expected) = set(&mut config, value) {
                errors.push(error(expected));
            }
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    /// One line with every option's effective value, for the server log.
    pub fn summary(&self) -> String {
        let off = |d: Option<Duration>| d.map_or_else(|| "0".to_owned(), duration::display);
        let peers: Vec<String> = self.watch_peers.iter().map(ToString::to_string).collect();
        format!(
            "Watch={} WatchPeers={} TransportTimeout={} IdleTimeout={} ExpectNoOperation={} \
             WmPing={} WmPingTimeout={} RepaintProbe={} RepaintProbeTimeout={} Grace={} StallGuard={} \
             OnLost={} Launcher={} ListClients={} HostScope={}",
            format!("{:?}", self.watch).to_ascii_lowercase(),
            if peers.is_empty() {
                "(any)".to_owned()
            } else {
                peers.join(",")
            },
            off(self.transport_timeout),
            off(self.idle_timeout),
            off(self.expect_noop),
            off(self.wm_ping),
            duration::display(self.wm_ping_timeout),
            off(self.repaint_probe),
            duration::display(self.repaint_probe_timeout),
            duration::display(self.grace),
            off(self.stall_guard),
            format!("{:?}", self.on_lost).to_ascii_lowercase(),
            self.launcher
                .as_ref()
                .map_or_else(|| "none".to_owned(), |p| p.display().to_string()),
            match self.list_clients {
                ListClients::All => "all",
                ListClients::Local => "local",
                ListClients::Own => "self",
            },
            self.host_scope,
        )
    }
}

/// Splits `LIFESIGN_OPTIONS` (`IdleTimeout=3s;Launcher=/run/lifesign/launcher.sock`) into pairs.
/// Empty items (a trailing `;`) are skipped; an item without `=` is an error.
pub fn split_env(text: &str) -> Result<Vec<(String, String)>, OptionError> {
    text.split(';')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_owned(), value.trim().to_owned()))
            }
            _ => Err(OptionError {
                option: "LIFESIGN_OPTIONS".to_owned(),
                value: item.to_owned(),
                expected: "Name=Value items separated by ';'".to_owned(),
            }),
        })
        .collect()
}

/// Option names compare as the server compares them: ignoring case, `_` and blanks.
fn same_name(a: &str, b: &str) -> bool {
    let fold = |s: &str| {
        s.chars()
            .filter(|c| !matches!(c, '_' | ' ' | '\t'))
            .map(|c| c.to_ascii_lowercase())
            .collect::<String>()
    };
    fold(a) == fold(b)
}

/// A duration that may be `0` (off), else within `min..=MAX`.
fn optional(value: &str, min: Duration) -> Result<Option<Duration>, String> {
    match duration::parse(value) {
        Some(Duration::ZERO) => Ok(None),
        Some(d) if (min..=MAX).contains(&d) => Ok(Some(d)),
        _ => Err(format!(
            "0 (off) or {} from {} to {}",
            duration::FORM,
            duration::display(min),
            duration::display(MAX)
        )),
    }
}

/// A duration within `min..=MAX` (0 allowed only when `min` is 0).
fn required(value: &str, min: Duration) -> Result<Duration, String> {
    match duration::parse(value) {
        Some(d) if (min..=MAX).contains(&d) => Ok(d),
        _ => Err(format!(
            "{} from {} to {}",
            duration::FORM,
            duration::display(min),
            duration::display(MAX)
        )),
    }
}

fn parse_peers(value: &str) -> Option<Vec<IpNet>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(parse_net)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Config, Vec<OptionError>> {
        Config::from_options(pairs.iter().copied())
    }

    fn single_error(pairs: &[(&str, &str)]) -> OptionError {
        let errors = parse(pairs).expect_err("must be refused");
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    #[test]
    fn no_options_gives_the_contract_defaults() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.watch, Watch::Tcp);
        assert!(c.watch_peers.is_empty());
        assert_eq!(c.transport_timeout, Some(Duration::from_secs(10)));
        assert_eq!(c.idle_timeout, None);
        assert_eq!(c.expect_noop, None);
        assert_eq!(c.wm_ping, None);
        assert_eq!(c.wm_ping_timeout, Duration::from_secs(2));
        assert_eq!(c.repaint_probe, None);
        assert_eq!(c.repaint_probe_timeout, Duration::from_secs(2));
        assert_eq!(c.grace, Duration::from_secs(10));
        assert_eq!(c.stall_guard, Some(Duration::from_secs(1)));
        assert_eq!(c.on_lost, OnLost::Close);
        assert_eq!(c.launcher, Some(PathBuf::from(DEFAULT_LAUNCHER)));
        assert_eq!(c.list_clients, ListClients::Local);
    }

    #[test]
    fn list_clients_takes_all_local_or_self() {
        for (text, want) in [
            ("all", ListClients::All),
            ("Local", ListClients::Local),
            (" self ", ListClients::Own),
        ] {
            assert_eq!(parse(&[("ListClients", text)]).unwrap().list_clients, want);
        }
        let e = single_error(&[("ListClients", "everyone")]);
        assert!(e.to_string().contains("ListClients"), "{e}");
        assert!(e.to_string().contains("all, local, self"), "{e}");
    }

    #[test]
    fn every_option_is_parsed() {
        let c = parse(&[
            ("Watch", "all"),
            ("WatchPeers", "10.0.0.5, 10.1.0.0/16,fd00::/8"),
            ("TransportTimeout", "3s"),
            ("IdleTimeout", "1.5s"),
            ("ExpectNoOperation", "500ms"),
            ("WmPing", "2m"),
            ("WmPingTimeout", "750"),
            ("RepaintProbe", "1s"),
            ("RepaintProbeTimeout", "1.5s"),
            ("Grace", "0"),
            ("StallGuard", "0"),
            ("OnLost", "notify"),
            ("Launcher", "none"),
        ])
        .unwrap();
        assert_eq!(c.watch, Watch::All);
        let peers: Vec<String> = c.watch_peers.iter().map(ToString::to_string).collect();
        assert_eq!(peers, ["10.0.0.5/32", "10.1.0.0/16", "fd00::/8"]);
        assert_eq!(c.transport_timeout, Some(Duration::from_secs(3)));
        assert_eq!(c.idle_timeout, Some(Duration::from_millis(1_500)));
        assert_eq!(c.expect_noop, Some(Duration::from_millis(500)));
        assert_eq!(c.wm_ping, Some(Duration::from_secs(120)));
        assert_eq!(c.wm_ping_timeout, Duration::from_millis(750));
        assert_eq!(c.repaint_probe, Some(Duration::from_secs(1)));
        assert_eq!(c.repaint_probe_timeout, Duration::from_millis(1500));
        assert_eq!(c.grace, Duration::ZERO);
        assert_eq!(c.stall_guard, None);
        assert_eq!(c.on_lost, OnLost::Notify);
        assert_eq!(c.launcher, None);
    }

    #[test]
    fn names_match_like_the_servers_option_names() {
        let c = parse(&[
            ("idle_timeout", "3s"),
            ("ON LOST", "Notify"),
            ("watch", "LOCAL"),
        ])
        .unwrap();
        assert_eq!(c.idle_timeout, Some(Duration::from_secs(3)));
        assert_eq!(c.on_lost, OnLost::Notify);
        assert_eq!(c.watch, Watch::Local);
    }

    #[test]
    fn a_bad_duration_names_option_value_and_form() {
        let e = single_error(&[("IdleTimeout", "banana")]);
        assert_eq!(e.option, "IdleTimeout");
        assert_eq!(e.value, "banana");
        let line = e.to_string();
        assert!(line.contains("\"IdleTimeout\""), "{line}");
        assert!(line.contains("\"banana\""), "{line}");
        assert!(line.contains("500ms, 3s, 1.5s or 2m"), "{line}");
    }

    #[test]
    fn negative_and_absurd_durations_are_refused() {
        for (name, value) in [
            ("IdleTimeout", "-3s"),
            ("IdleTimeout", "25h"),
            ("IdleTimeout", "100000m"),
            ("IdleTimeout", "5"),
            ("TransportTimeout", "1s"),
            ("WmPingTimeout", "0"),
            ("RepaintProbeTimeout", "0"),
            ("Grace", "-1"),
            ("StallGuard", "99999999999999999999"),
        ] {
            let e = single_error(&[(name, value)]);
            assert_eq!((e.option.as_str(), e.value.as_str()), (name, value));
        }
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = single_error(&[("IdelTimeout", "3s")]);
        assert_eq!(e.option, "IdelTimeout");
        assert!(e.expected.contains("IdleTimeout"), "{}", e.expected);
    }

    #[test]
    fn an_option_given_twice_is_refused() {
        let e = single_error(&[("IdleTimeout", "3s"), ("idletimeout", "4s")]);
        assert_eq!(e.value, "4s");
    }

    #[test]
    fn every_bad_option_is_reported() {
        let errors = parse(&[
            ("Watch", "some"),
            ("OnLost", "kill"),
            ("Launcher", "rel/path"),
        ])
        .expect_err("must be refused");
        let names: Vec<&str> = errors.iter().map(|e| e.option.as_str()).collect();
        assert_eq!(names, ["Watch", "OnLost", "Launcher"]);
    }

    #[test]
    fn bad_peers_are_refused() {
        for bad in ["10.0.0", "10.0.0.0/33", "host-a", "10.0.0.1;10.0.0.2"] {
            single_error(&[("WatchPeers", bad)]);
        }
        assert!(parse(&[("WatchPeers", "")]).unwrap().watch_peers.is_empty());
    }

    #[test]
    fn env_options_split_into_pairs() {
        let pairs = split_env(" IdleTimeout=3s; Launcher = /run/l.sock ;").unwrap();
        assert_eq!(
            pairs,
            [
                ("IdleTimeout".to_owned(), "3s".to_owned()),
                ("Launcher".to_owned(), "/run/l.sock".to_owned())
            ]
        );
        assert!(split_env("").unwrap().is_empty());
        let e = split_env("IdleTimeout").unwrap_err();
        assert_eq!(e.value, "IdleTimeout");
        assert!(split_env("=3s").is_err());
    }

    #[test]
    fn summary_names_every_option() {
        let line = Config::default().summary();
        for (name, _) in OPTIONS {
            assert!(
                line.contains(&format!("{name}=")),
                "{name} missing from {line}"
            );
        }
        assert!(line.contains("IdleTimeout=0"), "{line}");
        assert!(line.contains("TransportTimeout=10s"), "{line}");
    }

    #[test]
    fn host_scope_is_nobody_by_default_and_takes_all_or_peers() {
        assert_eq!(parse(&[]).unwrap().host_scope, HostScope::None);
        assert_eq!(
            parse(&[("HostScope", "ALL")]).unwrap().host_scope,
            HostScope::All
        );
        let c = parse(&[("HostScope", "10.0.0.5, 10.1.0.0/16")]).unwrap();
        let HostScope::Peers(peers) = &c.host_scope else {
            panic!("{:?}", c.host_scope)
        };
        let peers: Vec<String> = peers.iter().map(ToString::to_string).collect();
        assert_eq!(peers, ["10.0.0.5/32", "10.1.0.0/16"]);
        assert!(
            c.summary().ends_with("HostScope=10.0.0.5/32,10.1.0.0/16"),
            "{}",
            c.summary()
        );
        for bad in ["", "some", "10.0.0.300", ","] {
            single_error(&[("HostScope", bad)]);
        }
    }
}
