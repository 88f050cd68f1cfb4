//! A client's life as the module sees it: connected, set up, opted in or out, ended.

use super::{Joining, events, pass, with};
use crate::server::client::{ClientState, ClientView};
use crate::server::{clients, socket, time, wraps};
use lifesign_proto::event::{Body, ClientInfo, Transport};
use lifesign_proto::ext::{self, WatchRequest};
use lifesign_watchdog::policy::{self, Keepalive, Policy};

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
    let (transport, peer) = client.transport();
    let pid = client.pid();
    let command = client.command();
    let Some((by_default, keepalive)) = with(|w| {
        let by_default = policy::watched_by_default(&w.config, transport, peer.map(|p| p.ip()));
        let keepalive = w
            .config
            .transport_timeout
            .map(|t| w.keepalive(t.as_millis() as u64));
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
    let Some(policy) = with(|w| w.tracker.default_policy()) else {
        return;
    };
    begin(index, info, policy);
}

/// Starts watching client `index` with `policy`: its request counts are followed from now.
fn begin(index: usize, info: ClientInfo, policy: Policy) {
    see_no_operations_for(policy);
    let Some(counts) = clients::follow(index) else {
        return;
    };
    let now = time::now_ms();
    with(|w| {
        let body = w.tracker.watch(index, info, policy, now);
        let vnow = w.tracker.virtual_now();
        w.sampler.start(index, counts, vnow);
        w.emit(body);
    });
    events::flush_soon();
    pass::reschedule();
}

/// A policy that expects NoOperation requests needs them told apart: the wrap goes in.
fn see_no_operations_for(policy: Policy) {
    if policy.expect_noop.is_some() {
        wraps::observe_no_operations();
    }
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

/// Why a Watch request is refused.
pub enum Refused {
    /// BadValue: a value out of range, or an unknown flag.
    Value(u32),
    /// BadAccess: a host-scope pulse from a peer `HostScope` does not name.
    HostScope,
}

/// A Watch request: the client opts in, or changes its own policy and service name.
pub fn opt_in(client: &mut ClientView<'_>, asked: &WatchRequest) -> Result<(), Refused> {
    let index = client.index();
    let service = (!asked.service.is_empty()).then(|| asked.service.clone());
    // Where it is connected from: asked of the socket only where it matters (a host-scope
    // pulse, a client not yet watched), not for every Watch of a watched client.
    let host_scope = asked.flags & ext::flags::HOST_SCOPE != 0;
    let place = host_scope.then(|| client.transport());
    let outcome = with(|w| -> Result<_, Refused> {
        let policy =
            Policy::from_request(&w.tracker.default_policy(), asked).map_err(Refused::Value)?;
        if let Some((transport, peer)) = place
            && !policy::may_declare_host_scope(&w.config, transport, peer.map(|p| p.ip()))
        {
            return Err(Refused::HostScope);
        }
        let known = w.tracker.policy(index);
        if known.is_some() && w.tracker.set_policy(index, policy, service.clone()) {
            note_identity(index);
        }
        let keepalive = policy.transport_timeout.map(|t| w.keepalive(t));
        Ok((policy, known, keepalive))
    })
    .unwrap_or(Err(Refused::Value(0)))?;
    let (policy, known, keepalive) = outcome;
    let transport_changed = known.is_none_or(|k| k.transport_timeout != policy.transport_timeout);
    if known.is_none() {
        let (transport, peer) = place.unwrap_or_else(|| client.transport());
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
        begin(index, info, policy);
    } else {
        see_no_operations_for(policy);
        // A new service name is told at the next pass, once however often it changed.
        crate::server::timer::deadline_within(1);
        pass::reschedule();
    }
    if known.is_some()
        && transport_changed
        && let Some(fd) = client.socket()
    {
        let result = match keepalive {
            Some(k) => socket::set_keepalive(fd, k),
            None => socket::clear_keepalive(fd, kernel_rto_max()),
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
        w.sampler.stop(index);
        let client = w.tracker.unwatch(index)?;
        w.emit(Body::Unwatched { client });
        Some(())
    })
    .flatten();
    events::flush_soon();
    if was.is_some()
        && let Some(fd) = client.socket()
    {
        let _ = socket::clear_keepalive(fd, kernel_rto_max());
    }
}

thread_local! {
    /// Clients whose identity may have changed since the last pass (their WM_CLASS was
    /// written, or they declared another service name): at most one entry each.
    static IDENTITY_PENDING: std::cell::RefCell<Vec<usize>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Notes that client `index`'s identity may have changed; kept apart from the state, so
/// that it can be noted while the state is borrowed (a Watch) and from a hook that must not
/// depend on whether it is.
fn note_identity(index: usize) -> bool {
    IDENTITY_PENDING.with(|pending| {
        let Ok(mut pending) = pending.try_borrow_mut() else {
            return false;
        };
        if !pending.contains(&index) && pending.len() < clients::SLOTS {
            pending.push(index);
        }
        true
    })
}

/// WM_CLASS of a window of client `owner` is being written: the next pass (within 1 ms,
/// once the request has stored it) reads the class of its first top-level window, and a
/// watched client whose class changed gets an `updated` event.
pub fn on_class_written(owner: usize) {
    if note_identity(owner) {
        crate::server::timer::deadline_within(1);
    }
}

/// The clients whose identity may have changed since the last call.
pub(super) fn take_identity_pending() -> Vec<usize> {
    IDENTITY_PENDING.with(|pending| {
        pending
            .try_borrow_mut()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    })
}

/// The kernel's own longest wait between retries, which a socket gets back.
fn kernel_rto_max() -> u32 {
    with(|w| w.tcp.rto_max_ms).unwrap_or(lifesign_watchdog::policy::KERNEL_RTO_MAX_MS)
}

/// The connection is closed (Gone, or Retained with its resources kept).
fn ended(index: usize) {
    let killed = wraps::killing();
    // Its last requests: the server keeps its record until this callback returns.
    let last = clients::final_counts(index);
    let now = time::now_ms();
    with(|w| {
        w.joining.remove(&index);
        w.subscribers.remove(index);
        let dup = w.sockets.remove(&index);
        if let Some(counts) = last {
            let vnow = w.tracker.virtual_at(now);
            w.sampler.sample(index, counts, vnow);
        }
        let seen = w.sampler.activity(index);
        w.sampler.stop(index);
        let end = || dup.as_ref().map(socket::Watch::end);
        if let Some(body) = w.tracker.on_gone(index, seen, killed, end) {
            w.emit(body);
        }
        // `dup` is dropped here: the socket is closed for good.
    });
    events::flush_soon();
}
