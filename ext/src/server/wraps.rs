//! The module's two wraps of the server's `ProcVector`: KillClient (so that a client's end can
//! be told apart as `killed`) and NoOperation (so that a client that must show NoOperation
//! requests can be seen sending them: the request count says only that *some* request came).
//!
//! They chain the way the server's own wrappers do (modesetting's `ms_change_property`,
//! PanoramiX): the entry found is kept and called, ours is put in its place. `ProcVector` is
//! not reset between generations, so a wrap is taken off at the generation's CloseDown only if
//! the entry still holds it; if someone wrapped it in turn, ours stays in their chain for good
//! and is never installed a second time (that would make it call itself). No client's
//! `requestVector` is ever written: per-client tables belong to RECORD and to whoever else
//! keeps one. A client whose table RECORD copied before the NoOperation wrap went in does
//! not pass it: see [`sees_no_operations`].
//!
//! NoOperation is wrapped only once a watched client must show NoOperation requests, so a
//! server whose policies never ask for them pays nothing on its NoOperation path.

use super::clients::SLOTS;
use lifesign_sys as sys;
use std::cell::Cell;
use std::cell::UnsafeCell;
use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

type ProcFn = unsafe extern "C" fn(sys::ClientPtr) -> c_int;

/// One wrapped entry of `ProcVector`.
struct Wrap {
    opcode: usize,
    wrapper: ProcFn,
    /// The entry it replaced ([`absent`] until installed). Never the wrapper itself:
    /// `install` keeps the entry only when the wrapper is not on top, and never runs again
    /// once the wrapper is in someone else's chain. Written only by `install`, on the server
    /// thread between requests; read on every call of the wrapper, so a plain cell, not an
    /// atomic with a check for none: the NoOperation path is counted in instructions.
    saved: UnsafeCell<ProcFn>,
    /// In the vector now, or left in another wrapper's chain.
    installed: AtomicBool,
    /// Someone wrapped it in turn: it stays in their chain and is never installed again.
    kept_in_chain: AtomicBool,
}

static KILL_CLIENT: Wrap = Wrap::new(sys::LIFESIGN_X_KILL_CLIENT, proc_kill_client);
static NO_OPERATION: Wrap = Wrap::new(sys::LIFESIGN_X_NO_OPERATION, proc_no_operation);

/// Per client index: the request number (`client->sequence`) of its last NoOperation, stored
/// by the wrap. Compared, never interpreted: a change means a NoOperation came.
static LAST_NO_OPERATION: [AtomicU32; SLOTS] = [const { AtomicU32::new(0) }; SLOTS];

thread_local! {
    static KILLING: Cell<bool> = const { Cell::new(false) };
}

fn entry(opcode: usize) -> *mut Option<ProcFn> {
    // SAFETY: opcodes are below 256, the size of ProcVector.
    unsafe {
        (&raw mut sys::ProcVector)
            .cast::<Option<ProcFn>>()
            .add(opcode)
    }
}

fn holds(opcode: usize, f: ProcFn) -> bool {
    // SAFETY: ProcVector is read and written only on the server thread.
    unsafe { *entry(opcode) }.is_some_and(|h| h as usize == f as usize)
}

impl Wrap {
    const fn new(opcode: c_int, wrapper: ProcFn) -> Self {
        Self {
            opcode: opcode as usize,
            wrapper,
            saved: UnsafeCell::new(absent),
            installed: AtomicBool::new(false),
            kept_in_chain: AtomicBool::new(false),
        }
    }

    fn install(&self) {
        if self.kept_in_chain.load(Ordering::Relaxed) || holds(self.opcode, self.wrapper) {
            return;
        }
        // SAFETY: on the server thread, between requests or inside one that is not this
        // opcode's (the dispatcher read the entry before calling it); no wrapper call is
        // reading `saved` meanwhile (the server is single-threaded).
        unsafe {
            *self.saved.get() = (*entry(self.opcode)).unwrap_or(absent);
            *entry(self.opcode) = Some(self.wrapper);
        }
        self.installed.store(true, Ordering::Relaxed);
    }

    /// End of a generation: the saved entry goes back if ours is still on top.
    fn uninstall(&self) {
        if !self.installed.load(Ordering::Relaxed) || self.kept_in_chain.load(Ordering::Relaxed) {
            return;
        }
        if holds(self.opcode, self.wrapper) {
            // SAFETY: on the server thread between generations; `saved` is the handler that
            // was there (an empty entry came back as `absent`, the dispatcher's own answer).
            unsafe { *entry(self.opcode) = Some(*self.saved.get()) };
            self.installed.store(false, Ordering::Relaxed);
        } else {
            self.kept_in_chain.store(true, Ordering::Relaxed);
            tracing::info!(
                "request {} was wrapped after lifesign; its wrap stays in that chain",
                self.opcode
            );
        }
    }

    /// The handler ours replaced.
    #[inline(always)]
    fn saved(&self) -> ProcFn {
        // SAFETY: written only by `install` on the server thread, never during a call of the
        // wrapper, which runs on that thread too.
        unsafe { *self.saved.get() }
    }
}

/// A watched client must show NoOperation requests: NoOperation is wrapped from now on (for
/// this generation, and the next ones).
pub fn observe_no_operations() {
    NO_OPERATION.install();
    NEEDED.store(true, Ordering::Relaxed);
}

/// NoOperation was wanted in an earlier generation: it is wrapped in each one after.
static NEEDED: AtomicBool = AtomicBool::new(false);

/// The generation begins: the wraps it needs go in.
pub fn new_generation() {
    KILL_CLIENT.install();
    if NEEDED.load(Ordering::Relaxed) {
        NO_OPERATION.install();
    }
}

/// The generation ends: each wrap comes off if it is still on top.
pub fn close_generation() {
    KILL_CLIENT.uninstall();
    NO_OPERATION.uninstall();
}

/// True while a KillClient request is being handled: a client that goes now was killed.
pub fn killing() -> bool {
    KILLING.get()
}

/// The request number of client `index`'s last NoOperation that passed the wrap.
pub fn last_no_operation(index: usize) -> u32 {
    LAST_NO_OPERATION
        .get(index)
        .map_or(0, |n| n.load(Ordering::Relaxed))
}

/// Client `index` is followed from request number `sequence` on: its mark is set there, and
/// its NoOperations, which come later, are all different from it.
pub fn mark_no_operations(index: usize, sequence: u32) {
    if let Some(mark) = LAST_NO_OPERATION.get(index) {
        mark.store(sequence, Ordering::Relaxed);
    }
}

/// Whether the NoOperation requests of `client` pass the wrap: its requests go through the
/// server's own vectors (SwappedProcVector's NoOperation calls ProcVector's), or its own table
/// leads to the wrap directly. A table of its own that leads elsewhere (RECORD copied it
/// before the wrap went in) may bypass it, and the module cannot tell.
pub fn sees_no_operations(client: &sys::ClientRec) -> bool {
    if !NO_OPERATION.installed.load(Ordering::Relaxed) {
        return false;
    }
    let vector = client.requestVector.cast::<Option<ProcFn>>();
    let own = (&raw mut sys::ProcVector).cast::<Option<ProcFn>>();
    let swapped = (&raw mut sys::SwappedProcVector).cast::<Option<ProcFn>>();
    if vector == own || vector == swapped {
        return true;
    }
    if vector.is_null() {
        return false;
    }
    // SAFETY: a client's vector has 256 entries; read on the server thread.
    let handler = unsafe { *vector.add(sys::LIFESIGN_X_NO_OPERATION as usize) };
    handler.is_some_and(|h| h as usize == proc_no_operation as ProcFn as usize)
}

unsafe extern "C" fn proc_kill_client(client: sys::ClientPtr) -> c_int {
    let handler = KILL_CLIENT.saved();
    KILLING.set(true);
    // SAFETY: the handler the dispatcher would have called, with the same client.
    let result = unsafe { handler(client) };
    KILLING.set(false);
    result
}

/// The NoOperation path of every client once wrapped: one store, then the saved handler. It
/// cannot panic, so it needs no guard.
unsafe extern "C" fn proc_no_operation(client: sys::ClientPtr) -> c_int {
    // SAFETY: the dispatcher passes the client whose request it is dispatching.
    let (index, sequence) = unsafe { ((*client).index as usize, (*client).sequence as u32) };
    // A mask, not a bounds check: client indices are below MAXCLIENTS, a power of two.
    LAST_NO_OPERATION[index & (SLOTS - 1)].store(sequence, Ordering::Relaxed);
    // SAFETY: the handler the dispatcher would have called, with the same client.
    unsafe { NO_OPERATION.saved()(client) }
}

/// What an entry holds before a wrap keeps a handler: the dispatcher's own answer to a
/// request it has no handler for.
unsafe extern "C" fn absent(_client: sys::ClientPtr) -> c_int {
    sys::LIFESIGN_BAD_REQUEST
}

// SAFETY: `saved` is written and read only on the server's main thread (see the field).
unsafe impl Sync for Wrap {}

const _: () = assert!(SLOTS.is_power_of_two(), "the mask needs a power of two");
