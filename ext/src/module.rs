//! The module's life across server generations: options collected at setup, decided once at
//! the first generation, the extension and hooks put in place at every generation.

use crate::server::client::{ClientState, ClientView};
use crate::server::{callbacks, extension, guard, handlers, wraps};
use crate::watch;
use lifesign_watchdog::{Config, OptionError};
use std::cell::RefCell;

/// Where the options came from, for log lines.
#[derive(Clone, Copy, Debug)]
pub enum Source {
    XorgConf,
    Environment,
}

impl Source {
    fn describe(self) -> &'static str {
        match self {
            Self::XorgConf => "xorg.conf",
            Self::Environment => "LIFESIGN_OPTIONS",
        }
    }
}

#[derive(Default)]
struct State {
    source: Option<Source>,
    /// Options of every setup call, in order, until the first generation decides them.
    pending: Vec<(String, String)>,
    /// Errors found before the options could even be split (LIFESIGN_OPTIONS syntax).
    early_errors: Vec<OptionError>,
    config: Option<Config>,
}

thread_local! {
    // Only the server thread calls into the module, so the state is that thread's.
    static STATE: RefCell<State> = RefCell::default();
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with_borrow_mut(f)
}

/// One setup call (Xorg: per `Load`/`SubSection`; preload: the constructor).
pub fn setup(source: Source, pairs: Result<Vec<(String, String)>, OptionError>) {
    match &pairs {
        Ok(pairs) => tracing::debug!("setup from {}: {} options", source.describe(), pairs.len()),
        Err(_) => tracing::debug!("setup from {}: options unreadable", source.describe()),
    }
    with_state(|state| {
        state.source.get_or_insert(source);
        match pairs {
            Ok(pairs) => state.pending.extend(pairs),
            Err(error) => state.early_errors.push(error),
        }
    });
}

/// The extension's init function: runs at the start of every server generation.
pub fn init_generation() {
    let generation = extension::generation();
    let Some(()) = decide_config() else {
        guard::disable();
        return;
    };
    let Some(opcode) = extension::add() else {
        tracing::error!("the server refused to add extension LIFESIGN; lifesign is disabled");
        guard::disable();
        return;
    };
    if !callbacks::watch_client_states() || !handlers::register() {
        tracing::error!("cannot register the server hooks; lifesign is disabled");
        guard::disable();
        return;
    }
    wraps::wrap();
    watch::new_generation();
    tracing::info!(
        "generation {generation}: extension LIFESIGN {}.{} ready (major opcode {opcode})",
        lifesign_proto::ext::MAJOR_VERSION,
        lifesign_proto::ext::MINOR_VERSION
    );
}

/// Decides the configuration at the first generation; `None` if it is refused.
fn decide_config() -> Option<()> {
    with_state(|state| {
        if state.config.is_some() {
            return Some(());
        }
        let source = state.source.unwrap_or(Source::XorgConf).describe();
        let pairs = std::mem::take(&mut state.pending);
        let parsed = Config::from_options(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let mut errors = std::mem::take(&mut state.early_errors);
        match parsed {
            Ok(config) if errors.is_empty() => {
                tracing::info!("enabled, options from {source}: {}", config.summary());
                watch::start(&config);
                state.config = Some(config);
                return Some(());
            }
            Ok(_) => {}
            Err(more) => errors.extend(more),
        }
        for error in errors {
            tracing::error!("{error} (from {source}); lifesign is disabled");
        }
        None
    })
}

/// The extension's close-down: the end of a generation.
pub fn close_generation() {
    tracing::debug!("generation {} closed", extension::generation());
}

pub fn on_client_state(client: &mut ClientView<'_>) {
    match client.state() {
        ClientState::Initial => tracing::debug!(
            "client {:#010x} connected (index {}, pid {:?}, command {:?})",
            client.id_base(),
            client.index(),
            client.pid(),
            client.command()
        ),
        ClientState::Gone => tracing::debug!("client {:#010x} gone", client.id_base()),
        _ => {}
    }
    watch::on_client_state(client);
}
