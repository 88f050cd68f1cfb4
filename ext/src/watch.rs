//! Watching clients: the glue between the server's hooks and the tracker of
//! `lifesign-watchdog`, which holds every rule about time.
//!
//! Borrow discipline: the state is borrowed only for the length of one tracker call. Acting
//! on a client (closing it, pinging it) happens with the state released, because closing a
//! client re-enters the module through the client-state callback.

use crate::server::client::{ClientState, ClientView, Request};
use crate::server::vector::Verdict;
use crate::server::windows::{self, Atoms};
use crate::server::{clients, extension, notify, socket, time, vector, wraps};
use crate::{activity, link};
use lifesign_proto::core::{self as core_proto, WmPing};
use lifesign_proto::event::{Body, ClientInfo, Event, ServerInfo, StatusEntry, Transport};
use lifesign_proto::ext::WatchRequest;
use lifesign_watchdog::Config;
use lifesign_watchdog::outbox::{self, Outbox};
use lifesign_watchdog::pace::Pace;
use lifesign_watchdog::policy::{self, Keepalive, Policy};
use lifesign_watchdog::tracker::{Action, Activity, Probe, Tracker};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

/// What is known of a client between its connection and its setup.
struct Joining {
    transport: Transport,
    peer: Option<SocketAddr>,
    pid: Option<u32>,
    command: Option<String>,
    by_default: bool,
}

struct Watching {
    config: Config,
    tracker: Tracker,
    /// How many losses a pass may make, from what the last ones took.
    pace: Pace,
    atoms: Option<Atoms>,
    joining: HashMap<usize, Joining>,
    /// Duplicates of the sockets of watched TCP clients, read at their end.
    sockets: HashMap<usize, socket::Watch>,
    /// Events kept for the launcher until it acknowledges them (`Launcher none`: no outbox,
    /// events are numbered and logged only).
    outbox: Option<Outbox>,
    seq: u64,
    started_ms: u64,
}

thread_local! {
    static WATCHING: RefCell<Option<Watching>> = const { RefCell::new(None) };
}

/// No deadline is pending (the tracker's heap is empty), kept after every use of the state
/// so that the main loop's handlers can tell without looking at it: an atomic load instead of
/// a thread-local lookup on every pass.
static QUIET: AtomicBool = AtomicBool::new(true);

fn with<R>(f: impl FnOnce(&mut Watching) -> R) -> Option<R> {
    WATCHING.with_borrow_mut(|w| {
        w.as_mut().map(|w| {
            let r = f(w);
            QUIET.store(w.tracker.is_quiet(), Ordering::Relaxed);
            r
        })
    })
}

/// Starts watching with the decided options (first generation).
pub fn start(config: &Config) {
    let pace = Pace::default();
    let mut tracker = Tracker::new(config);
    tracker.set_losses_per_pass(pace.limit());
    WATCHING.set(Some(Watching {
        config: config.clone(),
        tracker,
        pace,
        atoms: None,
        joining: HashMap::new(),
        sockets: HashMap::new(),
        outbox: config.launcher.is_some().then(Outbox::default),
        seq: 0,
        started_ms: time::unix_ms(),
    }));
    if let Some(path) = &config.launcher {
        link::start(path.clone());
    }
}

/// A new server generation: atoms were reset.
pub fn new_generation() {
    let atoms = Atoms::intern();
    if atoms.is_none() {
        tracing::warn!("cannot intern WM_PROTOCOLS/_NET_WM_PING; WmPing is inactive");
    }
    with(|w| w.atoms = atoms);
    link::new_generation();
}

impl Watching {
    /// Stamps, completes and reports an event.
    fn emit(&mut self, mut body: Body) {
        if let Some(client) = body.client_mut()
            && client.wm_class.is_none()
        {
            let index = client.index as usize;
            client.wm_class = windows::wm_class(index);
            if let (Some(class), Some(info)) = (&client.wm_class, self.tracker.info_mut(index)) {
                info.wm_class = Some(class.clone());
            }
        }
        let at = time::unix_ms();
        match self.outbox.as_mut() {
            Some(outbox) => {
                let (event, line, dropped) = outbox.push(at, body);
                if let Some(seq) = dropped {
                    tracing::error!(
                        "launcher queue full ({} events): dropped event seq {seq}",
                        outbox::BOUND,
                    );
                }
                tracing::info!("event {}", event.to_log_line());
                link::send(line);
            }
            // No launcher: the log is where the event goes.
            None => {
                self.seq += 1;
                let event = Event::new(self.seq, at, body);
                tracing::info!("event {}", event.to_log_line());
            }
        }
    }
}

pub fn on_client_state(client: &mut ClientView<'_>) {
    let index = client.index();
    match client.state() {
        ClientState::Initial => joined(client, index),
        ClientState::Running => set_up(client, index),
        ClientState::Retained | ClientState::Gone => ended(index),
        ClientState::Other => {}
    }
}

/// Connected, setup not yet done: the fd is there, so the transport is set up now.
fn joined(client: &mut ClientView<'_>, index: usize) {
    let (transport, peer) = client
        .socket()
        .map_or((Transport::Local, None), socket::transport);
    let pid = client.pid();
    let command = client.command();
    let Some((by_default, keepalive)) = with(|w| {
        let by_default = policy::watched_by_default(&w.config, transport, peer.map(|p| p.ip()));
        let keepalive = w
            .config
            .transport_timeout
            .map(|t| Keepalive::for_timeout(t.as_millis() as u64));
        (by_default, keepalive)
    }) else {
        return;
    };
    if by_default && transport != Transport::Local {
        watch_socket(client, index, keepalive);
    }
    with(|w| {
        w.joining.insert(
            index,
            Joining {
                transport,
                peer,
                pid,
                command,
                by_default,
            },
        );
    });
}

/// Keepalive on the server's socket of a watched TCP client, and the duplicate its end is
/// read from.
fn watch_socket(client: &mut ClientView<'_>, index: usize, keepalive: Option<Keepalive>) {
    let id = client.id_base();
    let Some(fd) = client.socket() else { return };
    if let Some(k) = keepalive
        && let Err(e) = socket::set_keepalive(fd, k)
    {
        tracing::warn!("client {id:#010x}: cannot set keepalive: {e}");
    }
    match socket::Watch::new(fd) {
        Ok(dup) => {
            with(|w| w.sockets.insert(index, dup));
        }
        Err(e) => {
            tracing::warn!("client {id:#010x}: cannot keep its socket to classify its end: {e}")
        }
    }
}

/// Setup done: watch it if it is watched by default.
fn set_up(client: &mut ClientView<'_>, index: usize) {
    let info = with(|w| {
        let joining = w.joining.remove(&index)?;
        joining.by_default.then(|| info_of(client, index, &joining))
    })
    .flatten();
    let Some(info) = info else { return };
    let needs_noop = with(|w| w.tracker.default_policy().expect_noop.is_some()).unwrap_or(false);
    client.hook_requests(needs_noop);
    let now = time::now_ms();
    with(|w| {
        let policy = w.tracker.default_policy();
        activity::reset(index);
        let body = w.tracker.watch(index, info, policy, now);
        w.emit(body);
    });
}

fn info_of(client: &ClientView<'_>, index: usize, joining: &Joining) -> ClientInfo {
    ClientInfo {
        id: ClientInfo::format_id(client.id_base()),
        index: index as u32,
        transport: joining.transport,
        peer: joining.peer.map(|p| p.to_string()),
        pid: joining.pid,
        command: joining.command.clone(),
        service: None,
        wm_class: None,
    }
}

/// A Watch request: the client opts in, or changes its own policy and service name.
pub fn opt_in(client: &mut ClientView<'_>, asked: &WatchRequest) -> Result<(), u32> {
    let index = client.index();
    let service = (!asked.service.is_empty()).then(|| asked.service.clone());
    let outcome = with(|w| -> Result<_, u32> {
        let policy = Policy::from_request(&w.tracker.default_policy(), asked)?;
        let known = w.tracker.policy(index);
        if known.is_some() {
            w.tracker.set_policy(index, policy, service.clone());
        }
        Ok((policy, known))
    })
    .unwrap_or(Err(0u32))?;
    let (policy, known) = outcome;
    let keepalive = policy.transport_timeout.map(Keepalive::for_timeout);
    let transport_changed = known.is_none_or(|k| k.transport_timeout != policy.transport_timeout);
    if known.is_none() {
        let (transport, peer) = client
            .socket()
            .map_or((Transport::Local, None), socket::transport);
        let joining = Joining {
            transport,
            peer,
            pid: client.pid(),
            command: client.command(),
            by_default: false,
        };
        let mut info = info_of(client, index, &joining);
        info.service = service;
        if transport != Transport::Local {
            watch_socket(client, index, keepalive);
        }
        client.hook_requests(policy.expect_noop.is_some());
        let now = time::now_ms();
        with(|w| {
            activity::reset(index);
            let body = w.tracker.watch(index, info, policy, now);
            w.emit(body);
        });
    } else {
        client.hook_requests(policy.expect_noop.is_some());
    }
    if known.is_some()
        && transport_changed
        && let Some(fd) = client.socket()
    {
        let result = match keepalive {
            Some(k) => socket::set_keepalive(fd, k),
            None => socket::clear_keepalive(fd),
        };
        if let Err(e) = result {
            tracing::warn!(
                "client {:#010x}: cannot set keepalive: {e}",
                client.id_base()
            );
        }
    }
    Ok(())
}

/// An Unwatch request: the client is not watched any more; its end is not reported.
pub fn opt_out(client: &mut ClientView<'_>) {
    let index = client.index();
    let was = with(|w| {
        w.sockets.remove(&index);
        w.tracker.unwatch(index)
    });
    if was == Some(true) {
        client.unhook_requests();
        if let Some(fd) = client.socket() {
            let _ = socket::clear_keepalive(fd);
        }
    }
}

/// What a new launcher connection is sent first, a line at a time to `out`: `hello`, a
/// `watched` replay of every watched client, then every event it has not acknowledged (as
/// the lines they were sent as).
pub fn opening_lines(mut out: impl FnMut(&str)) {
    with(|w| {
        let hello = Body::Hello {
            server: ServerInfo {
                display: notify::display_name(),
                pid: std::process::id(),
                started_ms: w.started_ms,
            },
        };
        let mut probe = ServerProbe { atoms: w.atoms };
        // With their class read now: a launcher tells services apart by it, and the tracker
        // learns it only when it reports a client.
        let watched: Vec<ClientInfo> = w
            .tracker
            .status(&mut probe)
            .into_iter()
            .map(|s| with_class(s.info))
            .collect();
        let Some(outbox) = w.outbox.as_mut() else {
            return;
        };
        let at = time::unix_ms();
        out(&outbox.transient(at, hello).to_line());
        for client in watched {
            let replay = Body::Watched {
                client,
                replay: true,
            };
            out(&outbox.transient(at, replay).to_line());
        }
        outbox.unacknowledged().for_each(out);
    });
}

/// The launcher acknowledged an event.
pub fn on_ack(seq: u64) {
    with(|w| {
        if let Some(outbox) = w.outbox.as_mut() {
            outbox.ack(seq);
        }
    });
}

/// The watched clients as ListClients returns them.
/// The watched clients `requester` may see (ListClients): itself always; the others as the
/// `ListClients` option allows it, and each only if the server's access control lets it read
/// that client (an untrusted client under SECURITY sees no trusted one).
pub fn list_json(requester: &mut ClientView<'_>) -> String {
    let own = requester.index();
    let (transport, peer) = requester
        .socket()
        .map_or((Transport::Local, None), socket::transport);
    let local = policy::is_local(transport, peer.map(|p| p.ip()));
    let entries: Vec<StatusEntry> = with(|w| {
        let others = policy::lists_others(w.config.list_clients, local);
        let mut probe = ServerProbe { atoms: w.atoms };
        w.tracker
            .status(&mut probe)
            .iter()
            .map(|s| s.entry())
            .filter(|e| e.client.index as usize == own || others)
            .collect::<Vec<_>>()
    })
    .unwrap_or_default();
    let entries: Vec<StatusEntry> = entries
        .into_iter()
        .filter(|e| {
            let index = e.client.index as usize;
            index == own || clients::may_read(requester, index)
        })
        .map(|mut e| {
            e.client = with_class(e.client);
            e
        })
        .collect();
    serde_json::to_string(&entries).expect("status entries serialize")
}

/// `client` with the class of its first top-level window, when it has one and the tracker
/// did not know it yet.
fn with_class(mut client: ClientInfo) -> ClientInfo {
    if client.wm_class.is_none() {
        client.wm_class = windows::wm_class(client.index as usize);
    }
    client
}

/// The connection is closed (Gone, or Retained with its resources kept).
fn ended(index: usize) {
    vector::forget(index);
    let killed = wraps::killing();
    with(|w| {
        w.joining.remove(&index);
        let dup = w.sockets.remove(&index);
        let seen = activity::read(index);
        let end = || dup.as_ref().map(socket::Watch::end);
        if let Some(body) = w.tracker.on_gone(index, seen, killed, end) {
            w.emit(body);
        }
        // `dup` is dropped here: the socket is closed for good.
    });
}

/// A SendEvent of a watched client: the answer to our `_NET_WM_PING` is ours alone.
pub fn on_send_event(request: &Request<'_>) -> Verdict {
    let index = request.index();
    with(|w| {
        let pong = w.atoms.and_then(|a| {
            core_proto::parse_pong(
                request.bytes(),
                request.byte_order(),
                a.wm_protocols,
                a.net_wm_ping,
            )
        });
        match pong {
            Some(pong) if w.tracker.on_pong(index, pong.timestamp) => Verdict::Consumed,
            _ => Verdict::Pass,
        }
    })
    .unwrap_or(Verdict::Pass)
}

/// The wakeup handler. With no deadline pending there is nothing to time, so the pass
/// reads no clock (see [`block`]).
pub fn wakeup() {
    if QUIET.load(Ordering::Relaxed) {
        return;
    }
    with(|w| {
        w.tracker.after_sleep(time::now_ms());
        activity::set_now(w.tracker.virtual_now());
    });
}

/// A server grab began (by the client of this index, when known), or ended (`None`).
pub fn on_grab(grab: Option<Option<usize>>, now: u64) {
    with(|w| match grab {
        Some(by) => w.tracker.grab(now, by),
        None => w.tracker.ungrab(now),
    });
}

struct ServerProbe {
    atoms: Option<Atoms>,
}

impl Probe for ServerProbe {
    fn activity(&mut self, index: usize) -> Activity {
        activity::read(index)
    }

    fn held(&mut self, index: usize) -> bool {
        clients::held(index)
    }

    fn ping_window(&mut self, index: usize) -> Option<u32> {
        windows::ping_window(index, self.atoms?)
    }
}

/// The block handler: acts on what is due, returns how long the server may sleep (ms).
///
/// It runs on every turn of the server's main loop, so a client making round trips pays it
/// once per request. A quiet pass, no deadline pending and no watched client active in the
/// cycle, reads no clock and leaves the tracker alone: nothing can be due, a stall can
/// convict nobody, and a client watched later starts from a fresh reading.
pub fn block() -> Option<u64> {
    vector::copy_server_vectors(extension::generation());
    if QUIET.load(Ordering::Relaxed) && !vector::any_disarmed() {
        link::block();
        return None;
    }
    let now = time::now_ms();
    let (actions, wake, atoms, stall) = with(|w| {
        let mut probe = ServerProbe { atoms: w.atoms };
        // The clients active in the cycle now ending were active until now at the latest.
        let end_of_cycle = w.tracker.virtual_at(now);
        vector::rearm(|index| activity::touch(index, end_of_cycle));
        let (actions, wake) = w.tracker.before_sleep(now, &mut probe);
        activity::set_now(w.tracker.virtual_now());
        (actions, wake, w.atoms, w.tracker.take_stall())
    })?;
    if let Some(gap) = stall {
        tracing::info!("the server was held up for {gap} ms; deadlines moved on by as much");
    }
    let acted = !actions.is_empty();
    // What the losses took (a report costs a tenth of one): the next pass's batch fits it.
    let (mut losses, mut losses_us) = (0, 0);
    for action in actions {
        match action {
            Action::Report(body) => {
                with(|w| w.emit(body));
            }
            Action::Lose {
                index,
                close,
                event,
            } => {
                let since = time::monotonic_us();
                with(|w| w.emit(event));
                if close {
                    clients::close(index);
                }
                losses += 1;
                losses_us += time::monotonic_us().saturating_sub(since);
            }
            Action::Ping {
                index,
                window,
                timestamp,
            } => {
                let Some(atoms) = atoms else { continue };
                let ping = WmPing {
                    window,
                    timestamp,
                    wm_protocols: atoms.wm_protocols,
                    net_wm_ping: atoms.net_wm_ping,
                };
                clients::with(index, |client| windows::send_ping(client, ping));
            }
        }
    }
    if losses > 0 {
        with(|w| {
            w.pace.record(losses, losses_us);
            w.tracker.set_losses_per_pass(w.pace.limit());
        });
    }
    // Acting (closing clients, sending events) takes time; a pass with nothing to do, the
    // usual one, reads the clock once.
    let now = if acted { time::now_ms() } else { now };
    let deadline = wake.map(|at| at.saturating_sub(now));
    link::block();
    deadline
}
