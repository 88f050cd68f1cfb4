//! The requests of a watched client pass through the module before their handlers: the
//! client's `requestVector` is pointed at a table of the module's (the way RECORD sees
//! requests, record/record.c; since 1.19 XACE has no per-request hook for core requests).
//! Unwatched clients keep the server's vector and pay nothing.
//!
//! A watched client pays once per dispatch cycle, not once per request. The *armed* table
//! leads every opcode to [`any_request`], which stamps the client's activity and then
//! *disarms* it: its vector becomes a copy of the server's own (the *disarmed* table), so the
//! rest of the cycle's requests go straight to their handlers. The block handler, which ends
//! the cycle, re-stamps the disarmed clients with its own time (their last request came no
//! later) and arms them again. Measured with callgrind on Xorg, per-request hooking cost 16%
//! more instructions per NoOperation in a flood; once per cycle it is lost in the noise
//! (docs/benchmarks.md).
//!
//! Two things are never left to the disarmed table: a client that must show NoOperation
//! requests stays armed until one came this cycle; and SendEvent goes through the module in
//! both tables, since an answer to the module's `_NET_WM_PING` must be seen and consumed.

use super::client::Request;
use super::clients::SLOTS;
use super::guard;
use lifesign_proto::core::opcode;
use lifesign_sys as sys;
use std::cell::UnsafeCell;
use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};

type ProcFn = unsafe extern "C" fn(sys::ClientPtr) -> c_int;
type Vector = *mut Option<ProcFn>;

/// What the module decided about a request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the server's handler.
    Pass,
    /// The module answered it itself (a pong to our own ping): the handler is skipped.
    Consumed,
}

/// A request vector of the module's. Writable, as the server's own vectors are: code that
/// patches `client->requestVector[op]` (the modesetting driver does) must not fault.
struct Table(UnsafeCell<[Option<ProcFn>; 256]>);

// SAFETY: only the server thread reads or writes the tables.
unsafe impl Sync for Table {}

impl Table {
    fn vector(&self) -> Vector {
        self.0.get().cast()
    }
}

static ARMED: Table = Table(UnsafeCell::new([Some(any_request as ProcFn); 256]));
/// Copies of `ProcVector` and `SwappedProcVector`, but for SendEvent.
static DISARMED: [Table; 2] = [
    Table(UnsafeCell::new([None; 256])),
    Table(UnsafeCell::new([None; 256])),
];
/// The server generation the disarmed tables were copied in (0: never).
static COPIED_IN: AtomicUsize = AtomicUsize::new(0);

/// How a client may be disarmed: which copy matches the vector it had.
const NEVER: u8 = 0;
const NATIVE: u8 = 1;
const SWAPPED: u8 = 2;

/// Per client index: the vector it had before the hook, while hooked. Statics, not
/// thread-locals: they are read on the request path, and a cdylib's TLS costs a call.
static ORIGINAL: [AtomicPtr<Option<ProcFn>>; SLOTS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];
static KIND: [AtomicU8; SLOTS] = [const { AtomicU8::new(NEVER) }; SLOTS];
static NEEDS_NO_OPERATION: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
/// The clients disarmed in this cycle.
static DISARMED_NOW: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static DISARMED_COUNT: AtomicUsize = AtomicUsize::new(0);

fn server_vector(kind: u8) -> Vector {
    if kind == SWAPPED {
        (&raw mut sys::SwappedProcVector).cast()
    } else {
        (&raw mut sys::ProcVector).cast()
    }
}

/// Copies the server's vectors into the disarmed tables, once per generation, after every
/// extension has set its entries (the first block handler of the generation).
pub fn copy_server_vectors(generation: u64) {
    let generation = generation as usize;
    // A load, not a swap: this runs on every pass, and copies once a generation.
    if COPIED_IN.load(Ordering::Relaxed) == generation {
        return;
    }
    COPIED_IN.store(generation, Ordering::Relaxed);
    for (table, kind) in DISARMED.iter().zip([NATIVE, SWAPPED]) {
        // SAFETY: on the server thread between requests; both vectors and tables have 256
        // entries; no client points at a disarmed table between cycles.
        unsafe {
            let copy = &mut *table.0.get();
            let from = server_vector(kind);
            for (op, entry) in copy.iter_mut().enumerate() {
                *entry = *from.add(op);
            }
            copy[usize::from(opcode::SEND_EVENT)] = Some(send_event as ProcFn);
        }
    }
}

/// Hooks client `client` (Running: its vector is the server's by now). Idempotent.
/// `needs_no_operation`: it must show NoOperation requests, so it stays armed until one came.
///
/// # Safety
/// `client` is a valid client in the Running state.
pub unsafe fn hook(client: sys::ClientPtr, needs_no_operation: bool) {
    // SAFETY: valid per the caller.
    let c = unsafe { &mut *client };
    let index = c.index as usize;
    if index >= SLOTS {
        return;
    }
    NEEDS_NO_OPERATION[index].store(needs_no_operation, Ordering::Relaxed);
    let current = c.requestVector;
    if current.is_null() || current == ARMED.vector() || is_disarmed(current) {
        return;
    }
    // Only a client with one of the server's own vectors can use the copies; one behind
    // RECORD, say, stays armed and pays per request.
    let kind = if current == server_vector(NATIVE) {
        NATIVE
    } else if current == server_vector(SWAPPED) {
        SWAPPED
    } else {
        NEVER
    };
    ORIGINAL[index].store(current, Ordering::Relaxed);
    KIND[index].store(kind, Ordering::Relaxed);
    c.requestVector = ARMED.vector();
}

fn is_disarmed(vector: Vector) -> bool {
    DISARMED.iter().any(|t| t.vector() == vector)
}

/// Takes the hook off, if nobody has stacked another vector on top of it since (then the
/// hook stays, passing everything through).
///
/// # Safety
/// `client` is a valid client.
pub unsafe fn unhook(client: sys::ClientPtr) {
    // SAFETY: valid per the caller.
    let c = unsafe { &mut *client };
    let index = c.index as usize;
    if index >= SLOTS || !(c.requestVector == ARMED.vector() || is_disarmed(c.requestVector)) {
        return;
    }
    let original = ORIGINAL[index].swap(std::ptr::null_mut(), Ordering::Relaxed);
    KIND[index].store(NEVER, Ordering::Relaxed);
    if !original.is_null() {
        c.requestVector = original;
    }
}

/// The slot of client `index` is free again (the client is gone).
pub fn forget(index: usize) {
    if let (Some(original), Some(kind)) = (ORIGINAL.get(index), KIND.get(index)) {
        original.store(std::ptr::null_mut(), Ordering::Relaxed);
        kind.store(NEVER, Ordering::Relaxed);
    }
}

/// Whether a watched client was disarmed in this cycle (it sent a request).
pub fn any_disarmed() -> bool {
    DISARMED_COUNT.load(Ordering::Relaxed) != 0
}

/// Ends the cycle: every client disarmed in it is handed to `touched` (its last request
/// came no later than now) and armed again.
pub fn rearm(mut touched: impl FnMut(usize)) {
    // Most passes follow a cycle without a watched client's request: a load, no write.
    if DISARMED_COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    let count = DISARMED_COUNT.swap(0, Ordering::Relaxed);
    for slot in &DISARMED_NOW[..count] {
        let index = slot.load(Ordering::Relaxed);
        touched(index);
        let Some(client) = super::clients::live(index) else {
            continue;
        };
        // SAFETY: a live client, between requests (the block handler).
        let c = unsafe { &mut *client };
        if is_disarmed(c.requestVector) {
            c.requestVector = ARMED.vector();
        }
    }
}

unsafe extern "C" fn any_request(client: sys::ClientPtr) -> c_int {
    // SAFETY: the dispatcher passes the client whose request it is dispatching.
    let c = unsafe { &mut *client };
    let (index, major) = (c.index as usize, c.majorOp);
    let slot = index & (SLOTS - 1);
    // The request path: stamps, maybe a disarm, a tail call. It cannot panic.
    crate::activity::record(index, major);
    if major == opcode::SEND_EVENT {
        // SAFETY: as above.
        return unsafe { send_event(client) };
    }
    let kind = KIND[slot].load(Ordering::Relaxed);
    let disarmed = DISARMED_COUNT.load(Ordering::Relaxed);
    // A client is disarmed only with room to note it, so every disarmed client is armed again
    // at the block handler; past the room (a client unwatching and watching itself over and
    // over in one cycle) clients just stay armed and pay per request for the cycle.
    if kind != NEVER
        && disarmed < SLOTS
        && (major == opcode::NO_OPERATION || !NEEDS_NO_OPERATION[slot].load(Ordering::Relaxed))
        && COPIED_IN.load(Ordering::Relaxed) != 0
    {
        c.requestVector = DISARMED[usize::from(kind - 1)].vector();
        DISARMED_NOW[disarmed].store(index, Ordering::Relaxed);
        DISARMED_COUNT.store(disarmed + 1, Ordering::Relaxed);
    }
    // SAFETY: as above.
    unsafe { call_original(client, index, major) }
}

/// SendEvent, armed or not: our own `_NET_WM_PING` answered is consumed here; anything else
/// goes on.
unsafe extern "C" fn send_event(client: sys::ClientPtr) -> c_int {
    let verdict = guard::entry(
        "the request hook",
        || Verdict::Pass,
        || {
            // SAFETY: the client being dispatched; no other reference into it is live.
            let request = unsafe { Request::from_raw(client) };
            crate::watch::on_send_event(&request)
        },
    );
    if verdict == Verdict::Consumed {
        return sys::LIFESIGN_SUCCESS;
    }
    // SAFETY: the dispatcher passes a valid client.
    let index = unsafe { (*client).index } as usize;
    // SAFETY: as above.
    unsafe { call_original(client, index, opcode::SEND_EVENT) }
}

/// # Safety
/// `client` is the client being dispatched, `index` its index, `major` its request's opcode.
#[inline(always)]
unsafe fn call_original(client: sys::ClientPtr, index: usize, major: u8) -> c_int {
    let mut vector = ORIGINAL[index & (SLOTS - 1)].load(Ordering::Relaxed);
    if vector.is_null() {
        // Never hooked through `hook` (cannot happen): the server's own.
        // SAFETY: as the caller's.
        let swapped = unsafe { (*client).swapped() } != 0;
        vector = server_vector(if swapped { SWAPPED } else { NATIVE });
    }
    // SAFETY: vectors have 256 entries and majorOp is a byte.
    match unsafe { *vector.add(usize::from(major)) } {
        // SAFETY: the handler the dispatcher would have called, with the same client.
        Some(handler) if handler as usize != any_request as ProcFn as usize => unsafe {
            handler(client)
        },
        _ => sys::LIFESIGN_BAD_REQUEST,
    }
}
