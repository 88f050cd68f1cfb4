//! The module's life across server generations: options collected at setup, decided once at
//! the first generation, the extension and hooks put in place at every generation. It is the
//! server layer's [`Module`]: every call from the server arrives here and is handed on.

use crate::server::client::{ClientState, ClientView, Request, XError};
use crate::server::hooks::{Grab, Module, Options};
use crate::server::notify::Ready;
use crate::server::{callbacks, extension, guard, wraps};
use crate::{link, requests, watch};
use lifesign_watchdog::{Config, OptionError};
use std::cell::RefCell;
use std::os::fd::RawFd;

/// The module, as the server layer sees it.
pub struct Lifesign;

#[derive(Default)]
struct State {
    /// Where the options came from, for log lines.
    source: Option<&'static str>,
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

impl Module for Lifesign {
    fn setup(&self, options: Options) {
        let (source, pairs) = match options {
            Options::XorgConf(pairs) => ("xorg.conf", Ok(pairs)),
            Options::Environment(text) => (
                "LIFESIGN_OPTIONS",
                lifesign_watchdog::options::split_env(&text),
            ),
        };
        match &pairs {
            Ok(pairs) => tracing::debug!("setup from {source}: {} options", pairs.len()),
            Err(_) => tracing::debug!("setup from {source}: options unreadable"),
        }
        with_state(|state| {
            state.source.get_or_insert(source);
            match pairs {
                Ok(pairs) => state.pending.extend(pairs),
                Err(error) => state.early_errors.push(error),
            }
        });
    }

    fn init_generation(&self) {
        init_generation();
    }

    fn close_generation(&self) {
        tracing::debug!("generation {} closed", extension::generation());
    }

    fn client_state(&self, client: &mut ClientView<'_>) {
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

    fn request(&self, request: &mut Request<'_>) -> Result<(), XError> {
        requests::handle(request)
    }

    fn sent_event(&self, sender: &mut ClientView<'_>, event: &[u8; 32]) -> bool {
        watch::on_sent_event(sender, event)
    }

    fn grab(&self, grab: Grab) {
        watch::on_grab(grab);
    }

    fn class_written(&self, owner: usize) {
        watch::on_class_written(owner);
    }

    fn timer(&self) -> Option<u64> {
        watch::on_timer()
    }

    fn reconnect(&self) {
        link::attempt();
    }

    fn link_ready(&self, fd: RawFd, ready: Ready) {
        link::on_ready(fd, ready);
    }

    fn link_failed(&self, fd: RawFd) {
        link::fail_closed(fd);
    }
}

/// The extension's init function: runs at the start of every server generation.
fn init_generation() {
    let generation = extension::generation();
    let Some(()) = decide_config() else {
        guard::disable();
        return;
    };
    let Some(added) = extension::add() else {
        tracing::error!("the server refused to add extension LIFESIGN; lifesign is disabled");
        guard::disable();
        return;
    };
    if !callbacks::register() {
        tracing::error!("cannot register the server hooks; lifesign is disabled");
        guard::disable();
        return;
    }
    wraps::new_generation();
    watch::new_generation();
    tracing::info!(
        "generation {generation}: extension LIFESIGN {}.{} ready (major opcode {}, first \
         event {})",
        lifesign_proto::ext::MAJOR_VERSION,
        lifesign_proto::ext::MINOR_VERSION,
        added.major_opcode,
        added.first_event.map_or("none".into(), |e| e.to_string()),
    );
}

/// Decides the configuration at the first generation; `None` if it is refused.
fn decide_config() -> Option<()> {
    with_state(|state| {
        if state.config.is_some() {
            return Some(());
        }
        let source = state.source.unwrap_or("xorg.conf");
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
