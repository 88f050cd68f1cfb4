//! Clients by index, for the module's timer: their request counts, is one held back by the server,
//! close one.

use super::client::ClientView;
use super::socket;
use lifesign_sys as sys;
use lifesign_watchdog::sampler::Counts;

/// Slots of the server's `clients[]` table.
pub const SLOTS: usize = sys::LIFESIGN_MAXCLIENTS as usize;

fn raw(index: usize) -> Option<sys::ClientPtr> {
    let client = record(index)?;
    // SAFETY: non-null entries of clients[] are valid clients.
    (unsafe { (*client).clientGone() } == 0).then_some(client)
}

/// The client at `index`, live or at its end: at the Gone callback the server has marked it
/// gone, but keeps its record and its resources (its windows) until the callback returns
/// (dix/dispatch.c, CloseDownClient), so what its end reports can still name its class.
pub(super) fn record(index: usize) -> Option<sys::ClientPtr> {
    let client = entry(index);
    (!client.is_null()).then_some(client)
}

/// What the server counts for the client at `index` (`record`) whose record is `client`: how
/// many requests it has dispatched for it (its `sequence`, counted by the dispatcher before
/// any handler or vector is called), and the request number of its last NoOperation if the
/// module can see those. The server's own bookkeeping, read, never written.
fn counts_of(client: sys::ClientPtr, index: usize) -> Counts {
    // SAFETY: a record of clients[], read on the server thread.
    let c = unsafe { &*client };
    Counts {
        requests: c.sequence as u32,
        no_operation: no_operations_of(c, index),
    }
}

/// The counts of the live client at `index`.
pub fn counts(index: usize) -> Option<Counts> {
    Some(counts_of(raw(index)?, index))
}

/// The same counts for the client at `index` at its end (the client-state callback with
/// Retained or Gone): the server keeps its record, and its entry in `clients[]`, until the
/// callback returns.
pub fn final_counts(index: usize) -> Option<Counts> {
    Some(counts_of(record(index)?, index))
}

/// The live client at `index` starts being followed: its counts, with the NoOperation mark
/// set to its request count now, so that no NoOperation of an earlier client at that index
/// can match a later one of this client.
pub fn follow(index: usize) -> Option<Counts> {
    let client = raw(index)?;
    // SAFETY: a live client, read on the server thread.
    let sequence = unsafe { (*client).sequence } as u32;
    super::wraps::mark_no_operations(index, sequence);
    Some(counts_of(client, index))
}

/// The request number of the last NoOperation of the live client at `index`, if the module
/// can see them.
pub fn no_operations(index: usize) -> Option<u32> {
    let client = raw(index)?;
    // SAFETY: a live client, read on the server thread.
    no_operations_of(unsafe { &*client }, index)
}

fn no_operations_of(client: &sys::ClientRec, index: usize) -> Option<u32> {
    super::wraps::sees_no_operations(client).then(|| super::wraps::last_no_operation(index))
}

/// How far ahead of the client it reads [`read_requests`] asks for a record's cache line.
const AHEAD: usize = 32;

/// The request counts (`sequence`) of the clients at `indices`, into `requests` (as long);
/// where no client is, the value stays. This is the module's one read that grows with the
/// clients watched, and every client record is a cache line the server may not have touched
/// since the last read: the loop reads nothing else of a record, and asks for the line of
/// the record `AHEAD` places on while it reads this one, so that the misses overlap instead
/// of following one another.
pub fn read_requests(indices: &[u32], requests: &mut [u32]) {
    let sequence_at = std::mem::offset_of!(sys::ClientRec, sequence);
    for (k, (&index, count)) in indices.iter().zip(requests.iter_mut()).enumerate() {
        if let Some(&ahead) = indices.get(k + AHEAD) {
            let record = entry(ahead as usize);
            if !record.is_null() {
                prefetch(record.cast::<u8>().wrapping_add(sequence_at));
            }
        }
        let record = entry(index as usize);
        if !record.is_null() {
            // SAFETY: a non-null entry of clients[] is a client record the server keeps until
            // it empties the entry; read on the server thread.
            *count = unsafe { (*record).sequence } as u32;
        }
    }
}

/// The entry of the server's `clients[]` at `index` (null where there is no client, or for
/// the server's own slot 0): a client that is gone but retained is still there, and its
/// count does not change.
fn entry(index: usize) -> sys::ClientPtr {
    if index == 0 || index >= SLOTS {
        return std::ptr::null_mut();
    }
    // SAFETY: on the server thread; clients[] has MAXCLIENTS entries.
    unsafe {
        (&raw const sys::clients)
            .cast::<sys::ClientPtr>()
            .add(index)
            .read()
    }
}

/// Asks for the cache line at `at`; never faults, whatever the address.
#[inline(always)]
fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing the program sees and cannot fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Runs `f` on the live client at `index`, if there is one.
pub fn with<R>(index: usize, f: impl FnOnce(&mut ClientView<'_>) -> R) -> Option<R> {
    let client = raw(index)?;
    // SAFETY: a live client; between requests nothing else holds a Rust reference into it.
    let mut view = unsafe { ClientView::from_raw(client) };
    Some(f(&mut view))
}

/// Whether the server's access control lets `by` read the details of the client at
/// `target`: XACE's client-access hook, through which the SECURITY extension keeps untrusted
/// clients from trusted ones (dix asks it the same way in `dixLookupClient`). `target` may be
/// at its end (in its Gone callback, where its record is still whole): its `gone` event is
/// shown to whoever could see it.
pub fn may_read(by: &mut ClientView<'_>, target: usize) -> bool {
    let Some(target) = record(target) else {
        return false;
    };
    // SAFETY: on the server thread, `by` a live client and `target` a whole record of
    // clients[]; XACE_CLIENT_ACCESS takes
    // (ClientPtr client, ClientPtr target, Mask access_mode), as dix/dixutils.c passes them.
    let rc = unsafe {
        sys::XaceHook(
            sys::LIFESIGN_XACE_CLIENT_ACCESS,
            by.as_ptr(),
            target,
            sys::LIFESIGN_DIX_READ_ACCESS as sys::Mask,
        )
    };
    rc == sys::LIFESIGN_SUCCESS
}

/// The server is not reading the client's requests now (IgnoreClient, ClientSleep,
/// SyncAwait).
pub fn held(index: usize) -> bool {
    let Some(client) = raw(index) else {
        return false;
    };
    // SAFETY: a live client; ClientIsAsleep only reads it.
    unsafe { (*client).ignoreCount > 0 || sys::ClientIsAsleep(client) != 0 }
}

/// Closes the client now, abortively, so that its socket is gone with it. Must not be called
/// while one of its requests is being dispatched (the module's timer is the place).
pub fn close(index: usize) {
    let Some(client) = raw(index) else {
        return;
    };
    // SAFETY: a live client, so its fd is open.
    let fd = unsafe { sys::GetClientFd(client) };
    // SAFETY: the fd stays open until CloseDownClient below closes it.
    if let Some(fd) = unsafe { socket::borrow(fd) } {
        // Best effort: a local socket has no linger to speak of.
        let _ = socket::set_abortive_close(fd);
    }
    #[cfg(feature = "handler-timing")]
    let began = crate::timing::begin();
    // SAFETY: called from the module's timer, which the server runs between dispatch slices
    // (os/WaitFor.c, check_timers); CloseDownClient is how the server itself drops clients.
    unsafe { sys::CloseDownClient(client) };
    #[cfg(feature = "handler-timing")]
    crate::timing::entry(crate::timing::SERVER_CLOSE, began);
}
