//! The launcher's configuration, validated with errors that point at the line.

use ipnet::IpNet;
use lifesign_formats::duration;
use lifesign_formats::net::parse_net;
use serde::Deserialize;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// Events that can trigger a failover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Lost,
    Gone,
}

/// What picks a service's clients out of the events. Every key given must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Match {
    pub peer: Option<IpNet>,
    pub wm_class: Option<String>,
    pub command: Option<String>,
    pub service: Option<String>,
}

/// The account a service's candidates run as (`user`), resolved when the file is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub matcher: Match,
    /// Candidates in order; the first is the primary. Each an argv, never run by a shell.
    pub start: Vec<Vec<String>>,
    pub on: Vec<Trigger>,
    /// An application that ends by itself (`gone`/`closed`: it exited, crashed, or was
    /// OOM-killed on a healthy host) is started again with the same candidate, within the
    /// flap limits; one the operator removed (`killed`) is not.
    pub restart: bool,
    /// The account its candidates run as; the launcher's own (root, under the shipped unit)
    /// when not given.
    pub user: Option<RunAs>,
    pub start_primary: bool,
    pub max_failovers: u32,
    pub window: Duration,
    /// How long a started candidate has to connect before the next one is tried.
    pub startup_timeout: Duration,
}

/// `[overlay]`: a program the launcher keeps running beside it, `lifesign overlay` (which
/// marks stale windows and shows what is being started in a lost client's place, from the
/// state file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlay {
    /// An argv, never run by a shell; it gets `DISPLAY` (`display`) and
    /// `LIFESIGN_LAUNCHER_STATE` (`state`).
    pub command: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub socket: PathBuf,
    /// Permission bits of the socket.
    pub socket_mode: u32,
    pub display: String,
    pub allow_uids: Vec<u32>,
    pub state: PathBuf,
    pub services: Vec<Service>,
    pub overlay: Option<Overlay>,
}

/// A configuration error, with the line and column it is at (1-based) and the key there,
/// when known.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{}{}{message}",
    location.map(|(l, c)| format!("line {l}, column {c}: ")).unwrap_or_default(),
    key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default()
)]
pub struct ConfigError {
    pub location: Option<(usize, usize)>,
    pub key: Option<String>,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_socket")]
    socket: PathBuf,
    #[serde(default)]
    socket_mode: Option<Spanned<String>>,
    #[serde(default = "default_display")]
    display: String,
    #[serde(default = "default_uids")]
    allow_uids: Vec<u32>,
    #[serde(default = "default_state")]
    state: PathBuf,
    #[serde(default)]
    service: Vec<RawService>,
    #[serde(default)]
    overlay: Option<RawOverlay>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverlay {
    command: Spanned<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    #[serde(rename = "match")]
    matcher: Spanned<RawMatch>,
    start: Spanned<Vec<Vec<String>>>,
    #[serde(default)]
    on: Option<Spanned<Vec<Trigger>>>,
    #[serde(default = "default_restart")]
    restart: bool,
    #[serde(default)]
    user: Option<Spanned<String>>,
    #[serde(default)]
    start_primary: bool,
    #[serde(default = "default_max_failovers")]
    max_failovers: u32,
    #[serde(default)]
    window: Option<Spanned<String>>,
    #[serde(default)]
    startup_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    peer: Option<Spanned<String>>,
    wm_class: Option<String>,
    command: Option<String>,
    service: Option<String>,
}

fn default_socket() -> PathBuf {
    PathBuf::from("/run/lifesign/launcher.sock")
}
fn default_display() -> String {
    ":0".to_owned()
}
fn default_uids() -> Vec<u32> {
    vec![0]
}
fn default_state() -> PathBuf {
    PathBuf::from("/var/lib/lifesign/launcher.json")
}
fn default_on() -> Vec<Trigger> {
    vec![Trigger::Lost]
}
/// The account named `name`, from the system's user database.
fn run_as(name: &str) -> Option<RunAs> {
    let user = nix::unistd::User::from_name(name).ok()??;
    Some(RunAs {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        home: user.dir,
    })
}

fn default_restart() -> bool {
    true
}
fn default_max_failovers() -> u32 {
    5
}

const DEFAULT_WINDOW: Duration = Duration::from_secs(600);
const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A duration option of a service: absent is `default`, zero is refused.
fn service_duration(
    text: &str,
    service: &str,
    key: &str,
    value: Option<Spanned<String>>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    duration::parse(value.get_ref())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            ConfigError::at(
                text,
                value.span().start,
                format!(
                    "service {service:?}: {key} {:?}: expected {}",
                    value.get_ref(),
                    duration::FORM
                ),
            )
        })
}

impl ConfigError {
    /// An error at byte `offset` of `text`, naming the key of that line.
    fn at(text: &str, offset: usize, message: String) -> Self {
        Self {
            location: Some(line_col(text, offset)),
            key: key_at(text, offset),
            message,
        }
    }
}

impl Config {
    /// Parses and validates `text` (the content of the config file).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let at = |span: Range<usize>, message: String| ConfigError::at(text, span.start, message);
        let raw: RawConfig = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => at(span, e.message().to_owned()),
            None => ConfigError {
                location: None,
                key: None,
                message: e.message().to_owned(),
            },
        })?;
        let socket_mode = match raw.socket_mode {
            None => 0o600,
            Some(mode) => u32::from_str_radix(mode.get_ref().trim_start_matches("0o"), 8)
                .ok()
                .filter(|m| *m <= 0o777)
                .ok_or_else(|| {
                    at(
                        mode.span(),
                        format!(
                            "socket_mode {:?}: expected octal permission bits such as \"0600\"",
                            mode.get_ref()
                        ),
                    )
                })?,
        };
        let mut services = Vec::new();
        for s in raw.service {
            let name = s.name.get_ref().trim().to_owned();
            if name.is_empty() {
                return Err(at(s.name.span(), "service name is empty".into()));
            }
            if services.iter().any(|o: &Service| o.name == name) {
                return Err(at(
                    s.name.span(),
                    format!("service {name:?} is defined twice"),
                ));
            }
            let start_span = s.start.span();
            let start = s.start.into_inner();
            if start.is_empty()
                || start
                    .iter()
                    .any(|argv| argv.is_empty() || argv[0].is_empty())
            {
                return Err(at(
                    start_span,
                    format!(
                        "service {name:?}: start needs at least one candidate, each a non-empty argv list"
                    ),
                ));
            }
            let matcher_span = s.matcher.span();
            let m = s.matcher.into_inner();
            let peer = match &m.peer {
                None => None,
                Some(p) => Some(parse_net(p.get_ref()).ok_or_else(|| {
                    at(
                        p.span(),
                        format!(
                            "service {name:?}: peer {:?} is not an IP address or CIDR",
                            p.get_ref()
                        ),
                    )
                })?),
            };
            let matcher = Match {
                peer,
                wm_class: m.wm_class,
                command: m.command,
                service: m.service,
            };
            if matcher == Match::default() {
                return Err(at(
                    matcher_span,
                    format!(
                        "service {name:?}: match needs at least one of peer, wm_class, command, service"
                    ),
                ));
            }
            let user = match &s.user {
                None => None,
                Some(u) => Some(run_as(u.get_ref()).ok_or_else(|| {
                    at(
                        u.span(),
                        format!(
                            "service {name:?}: user {:?} is not an account here",
                            u.get_ref()
                        ),
                    )
                })?),
            };
            let window = service_duration(text, &name, "window", s.window, DEFAULT_WINDOW)?;
            let startup_timeout = service_duration(
                text,
                &name,
                "startup_timeout",
                s.startup_timeout,
                DEFAULT_STARTUP_TIMEOUT,
            )?;
            let on = match s.on {
                None => default_on(),
                Some(on) if on.get_ref().is_empty() => {
                    return Err(at(on.span(), format!("service {name:?}: on is empty")));
                }
                Some(on) => on.into_inner(),
            };
            services.push(Service {
                name,
                matcher,
                start,
                on,
                restart: s.restart,
                user,
                start_primary: s.start_primary,
                max_failovers: s.max_failovers,
                window,
                startup_timeout,
            });
        }
        let overlay = match raw.overlay {
            None => None,
            Some(o) => {
                let span = o.command.span();
                let command = o.command.into_inner();
                if command.first().is_none_or(String::is_empty) {
                    return Err(at(
                        span,
                        "overlay: command must be a non-empty argv list".into(),
                    ));
                }
                Some(Overlay { command })
            }
        };
        Ok(Self {
            socket: raw.socket,
            socket_mode,
            display: raw.display,
            allow_uids: raw.allow_uids,
            state: raw.state,
            services,
            overlay,
        })
    }
}

/// The key that byte `offset` of `text` is at or is the value of (`key = value`, also
/// inside an inline table).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..offset];
    let key = match before.rfind('=') {
        Some(eq) => before[..eq].rsplit([',', '{']).next().unwrap_or(""),
        None => text[offset..]
            .lines()
            .next()
            .unwrap_or("")
            .split('=')
            .next()
            .unwrap_or(""),
    }
    .trim();
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
    (!key.is_empty() && key.chars().all(plain)).then(|| key.to_owned())
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT_EXAMPLE: &str = r#"
socket = "/run/lifesign/launcher.sock"
display = ":0"
allow_uids = [0]                 # peers allowed on the socket (SO_PEERCRED)
state = "/var/lib/lifesign/launcher.json"   # per-service state, survives restarts

[[service]]
name = "plant-view"
match = { peer = "10.0.0.5", wm_class = "xclock" }   # any of: peer (IP or CIDR), wm_class, command, service
start = [                                             # candidates in order; the first is the primary
  ["ssh", "host-a", "xclock"],
  ["ssh", "host-b", "xclock"],
]
on = ["lost"]                  # events that trigger failover: lost, gone
start_primary = true           # start the first candidate when the launcher starts
max_failovers = 5              # flap protection: at most this many within `window`
window = "10m"
"#;

    #[test]
    fn the_contracts_example_parses() {
        let c = Config::parse(CONTRACT_EXAMPLE).unwrap();
        assert_eq!(c.socket, PathBuf::from("/run/lifesign/launcher.sock"));
        assert_eq!(c.socket_mode, 0o600);
        assert_eq!(c.allow_uids, [0]);
        let s = &c.services[0];
        assert_eq!(s.name, "plant-view");
        assert_eq!(s.matcher.peer, Some("10.0.0.5/32".parse().unwrap()));
        assert_eq!(s.matcher.wm_class.as_deref(), Some("xclock"));
        assert_eq!(s.start.len(), 2);
        assert_eq!(s.start[1], ["ssh", "host-b", "xclock"]);
        assert_eq!(s.on, [Trigger::Lost]);
        assert!(s.restart);
        assert!(s.start_primary);
        assert_eq!((s.max_failovers, s.window), (5, Duration::from_secs(600)));
        assert_eq!(s.startup_timeout, Duration::from_secs(10));
    }

    fn error(text: &str) -> ConfigError {
        Config::parse(text).expect_err("must be refused")
    }

    #[test]
    fn errors_point_at_the_line() {
        let e = error(
            "socket = \"/s\"\n\n[[service]]\nname = \"a\"\nmatch = { peer = \"10.0.0\" }\nstart = [[\"x\"]]\n",
        );
        assert_eq!(e.location.map(|l| l.0), Some(5), "{e}");
        assert!(e.to_string().starts_with("line 5, column"), "{e}");
        assert!(e.message.contains("10.0.0"), "{e}");
        assert_eq!(e.key.as_deref(), Some("peer"), "{e}");

        let e = error("[[service]]\nname = \"a\"\nmatch = { wm_class = \"x\" }\nstart = []\n");
        assert_eq!(e.location.map(|l| l.0), Some(4), "{e}");
        assert_eq!(e.key.as_deref(), Some("start"), "{e}");
        let e = error("sockett = \"/s\"\n");
        assert_eq!(e.location.map(|l| l.0), Some(1), "{e}");
        assert_eq!(e.key.as_deref(), Some("sockett"), "{e}");
        let e = error(
            "[[service]]\nname = \"a\"\nmatch = { wm_class = \"x\" }\nstart = [[\"x\"]]\nmax_failovers = \"many\"\n",
        );
        assert_eq!(
            (e.location.map(|l| l.0), e.key.as_deref()),
            (Some(5), Some("max_failovers")),
            "{e}"
        );
        assert!(e.to_string().contains("key `max_failovers`"), "{e}");
    }

    #[test]
    fn bad_services_are_refused_at_their_key() {
        let service = |body: &str| format!("[[service]]\n{body}\n");
        for (body, needle, key) in [
            (
                "name = \"a\"\nmatch = {}\nstart = [[\"x\"]]",
                "at least one of",
                "match",
            ),
            (
                "name = \"\"\nmatch = { service = \"s\" }\nstart = [[\"x\"]]",
                "empty",
                "name",
            ),
            (
                "name = \"a\"\nmatch = { service = \"s\" }\nstart = [[]]",
                "non-empty argv",
                "start",
            ),
            (
                "name = \"a\"\nmatch = { service = \"s\" }\nstart = [[\"x\"]]\nwindow = \"soon\"",
                "window",
                "window",
            ),
            (
                "name = \"a\"\nmatch = { service = \"s\" }\nstart = [[\"x\"]]\nstartup_timeout = \"0\"",
                "startup_timeout",
                "startup_timeout",
            ),
            (
                "name = \"a\"\nmatch = { service = \"s\" }\nstart = [[\"x\"]]\non = [\"died\"]",
                "died",
                "on",
            ),
            (
                "name = \"a\"\nmatch = { service = \"s\" }\nstart = [[\"x\"]]\non = []",
                "on is empty",
                "on",
            ),
            (
                "name = \"a\"\nmatch = { service = \"s\" }\nstart = \"ssh host-a xclock\"",
                "sequence",
                "start",
            ),
        ] {
            let e = error(&service(body));
            assert!(e.to_string().contains(needle), "{body:?}: {e}");
            assert!(e.location.is_some(), "{body:?}: {e}");
            assert_eq!(e.key.as_deref(), Some(key), "{body:?}: {e}");
        }
        let twice = format!(
            "{}{}",
            service("name = \"a\"\nmatch = { service = \"s\" }\nstart = [[\"x\"]]"),
            service("name = \"a\"\nmatch = { service = \"t\" }\nstart = [[\"y\"]]")
        );
        assert!(error(&twice).message.contains("twice"));
    }

    #[test]
    fn the_overlay_is_an_argv_and_optional() {
        assert_eq!(Config::parse("").unwrap().overlay, None);
        let c = Config::parse("[overlay]\ncommand = [\"lifesign\", \"overlay\"]\n").unwrap();
        assert_eq!(
            c.overlay,
            Some(Overlay {
                command: vec!["lifesign".into(), "overlay".into()]
            })
        );
        for (text, needle, key) in [
            ("[overlay]\ncommand = []\n", "non-empty argv", "command"),
            ("[overlay]\ncommand = [\"\"]\n", "non-empty argv", "command"),
            (
                "[overlay]\ncommand = \"lifesign overlay\"\n",
                "sequence",
                "command",
            ),
            (
                "[overlay]\ncommand = [\"x\"]\nrestart = true\n",
                "unknown field",
                "restart",
            ),
        ] {
            let e = error(text);
            assert!(e.to_string().contains(needle), "{text:?}: {e}");
            assert!(e.location.is_some(), "{text:?}: {e}");
            assert_eq!(e.key.as_deref(), Some(key), "{text:?}: {e}");
        }
        let e = error("[overlay]\n");
        assert!(e.to_string().contains("command"), "{e}");
    }

    #[test]
    fn socket_mode_is_octal() {
        assert_eq!(
            Config::parse("socket_mode = \"0660\"").unwrap().socket_mode,
            0o660
        );
        assert!(error("socket_mode = \"rw\"").message.contains("octal"));
        assert!(error("socket_mode = \"1777\"").message.contains("octal"));
    }
}
