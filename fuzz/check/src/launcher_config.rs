//! The launcher's configuration: `Config::parse` on any TOML text.
//!
//! Input: the file's content. A refusal must point inside the text; what is accepted must
//! hold the config's rules, and written back as TOML must parse to the same configuration.

use lifesign_formats::duration;
use lifesign_launcher::config::{Match, Overlay, Service, Trigger};
use lifesign_launcher::{Config, ConfigError};
use toml::{Table, Value};

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text) {
        Ok(config) => {
            valid(&config);
            let written = as_toml(&config);
            assert_eq!(
                Config::parse(&written).as_ref(),
                Ok(&config),
                "written back as:\n{written}"
            );
        }
        Err(e) => points_inside(&e, text),
    }
}

/// The line and column of an error are in the text, and the key is a key.
fn points_inside(e: &ConfigError, text: &str) {
    let _ = e.to_string();
    if let Some((line, column)) = e.location {
        let lines = text.split('\n').count();
        assert!((1..=lines).contains(&line), "line {line} of {lines}: {e}");
        let width = text
            .split('\n')
            .nth(line - 1)
            .map_or(0, |l| l.chars().count());
        assert!(
            (1..=width + 1).contains(&column),
            "column {column} of {width}: {e}"
        );
    }
    if let Some(key) = &e.key {
        assert!(
            !key.is_empty() && !key.contains(char::is_whitespace),
            "{key:?}"
        );
    }
}

/// What the parser promises of an accepted configuration.
fn valid(c: &Config) {
    assert!(c.socket_mode <= 0o777);
    if let Some(o) = &c.overlay {
        assert!(o.command.first().is_some_and(|p| !p.is_empty()));
    }
    for (i, s) in c.services.iter().enumerate() {
        assert!(
            !s.name.is_empty() && s.name.trim() == s.name,
            "{:?}",
            s.name
        );
        assert!(
            c.services[..i].iter().all(|o| o.name != s.name),
            "{} twice",
            s.name
        );
        assert!(!s.start.is_empty());
        assert!(
            s.start
                .iter()
                .all(|argv| !argv.is_empty() && !argv[0].is_empty())
        );
        assert!(!s.on.is_empty());
        assert_ne!(s.matcher, Match::default());
        assert!(!s.window.is_zero() && !s.startup_timeout.is_zero());
    }
}

/// The configuration as a TOML file. Every field is named (no `..`), so a key added to the
/// config does not compile here until it round-trips too.
fn as_toml(c: &Config) -> String {
    let Config {
        socket,
        socket_mode,
        display,
        allow_uids,
        state,
        services,
        overlay,
    } = c;
    let path = |p: &std::path::Path| Value::from(p.to_str().expect("from TOML, so UTF-8"));
    let mut t = Table::new();
    t.insert("socket".into(), path(socket));
    t.insert("socket_mode".into(), format!("0{socket_mode:o}").into());
    t.insert("display".into(), display.as_str().into());
    let uids: Vec<Value> = allow_uids.iter().map(|u| i64::from(*u).into()).collect();
    t.insert("allow_uids".into(), uids.into());
    t.insert("state".into(), path(state));
    let services: Vec<Value> = services.iter().map(|s| service(s).into()).collect();
    t.insert("service".into(), services.into());
    if let Some(Overlay { command }) = overlay {
        let mut o = Table::new();
        let argv: Vec<Value> = command.iter().map(|a| a.as_str().into()).collect();
        o.insert("command".into(), argv.into());
        t.insert("overlay".into(), o.into());
    }
    toml::to_string(&t).expect("a table serializes")
}

fn service(s: &Service) -> Table {
    let Service {
        name,
        matcher,
        start,
        on,
        restart,
        user,
        start_primary,
        max_failovers,
        window,
        startup_timeout,
    } = s;
    let Match {
        peer,
        wm_class,
        command,
        service,
    } = matcher;
    let mut m = Table::new();
    let keys = [
        ("peer", peer.map(|p| p.to_string())),
        ("wm_class", wm_class.clone()),
        ("command", command.clone()),
        ("service", service.clone()),
    ];
    for (key, value) in keys {
        if let Some(value) = value {
            m.insert(key.into(), value.into());
        }
    }
    let mut t = Table::new();
    t.insert("name".into(), name.as_str().into());
    t.insert("match".into(), m.into());
    let start: Vec<Value> = start
        .iter()
        .map(|argv| {
            Value::from(
                argv.iter()
                    .map(|a| Value::from(a.as_str()))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    t.insert("start".into(), start.into());
    t.insert("restart".into(), (*restart).into());
    if let Some(user) = user {
        t.insert("user".into(), user.name.as_str().into());
    }
    let on: Vec<Value> = on
        .iter()
        .map(|trigger| {
            match trigger {
                Trigger::Lost => "lost",
                Trigger::Gone => "gone",
            }
            .into()
        })
        .collect();
    t.insert("on".into(), on.into());
    t.insert("start_primary".into(), (*start_primary).into());
    t.insert("max_failovers".into(), i64::from(*max_failovers).into());
    t.insert("window".into(), duration::display(*window).into());
    t.insert(
        "startup_timeout".into(),
        duration::display(*startup_timeout).into(),
    );
    t
}
