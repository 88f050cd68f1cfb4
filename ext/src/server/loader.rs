//! How the server finds the module: `lifesignModuleData` for Xorg's loader, and an ELF
//! constructor for servers without one (Xvfb, Xephyr) that get the library by `LD_PRELOAD`.
//! Both end in one `LoadExtensionList` call; the server then runs the extension's init
//! function at the start of every generation.

use super::hooks::{Options, module};
use super::{guard, identity, log};
use lifesign_proto::ext::EXTENSION_NAME_C;
use lifesign_sys as sys;
use std::ffi::{CStr, OsString, c_int, c_void};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::ptr::NonNull;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

#[repr(transparent)]
pub struct ModuleData(sys::XF86ModuleData);

// SAFETY: the data is never written; the server's loader reads it once, on its main thread.
unsafe impl Sync for ModuleData {}

#[repr(transparent)]
struct VersionInfo(sys::XF86ModuleVersionInfo);

// SAFETY: as for ModuleData: immutable, read by the loader only.
unsafe impl Sync for VersionInfo {}

static VERSION: VersionInfo = VersionInfo(sys::XF86ModuleVersionInfo {
    modname: c"lifesign".as_ptr(),
    vendor: c"lifesign".as_ptr(),
    _modinfo1_: sys::LIFESIGN_MODINFOSTRING1,
    _modinfo2_: sys::LIFESIGN_MODINFOSTRING2,
    xf86version: sys::LIFESIGN_XORG_VERSION_CURRENT,
    majorversion: version_part(env!("CARGO_PKG_VERSION_MAJOR")) as u8,
    minorversion: version_part(env!("CARGO_PKG_VERSION_MINOR")) as u8,
    patchlevel: version_part(env!("CARGO_PKG_VERSION_PATCH")) as u16,
    abiclass: sys::ABI_CLASS_EXTENSION.as_ptr().cast(),
    abiversion: sys::LIFESIGN_ABI_EXTENSION_VERSION,
    moduleclass: sys::MOD_CLASS_EXTENSION.as_ptr().cast(),
    checksum: [0; 4],
});

/// What Xorg's loader looks up for a module named `lifesign` (hw/xfree86/loader/loadmod.c).
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static lifesignModuleData: ModuleData = ModuleData(sys::XF86ModuleData {
    // The loader takes a mutable pointer but only reads through it.
    vers: (&raw const VERSION).cast_mut().cast(),
    setup: Some(setup),
    teardown: None,
});

const fn version_part(text: &str) -> u32 {
    let bytes = text.as_bytes();
    let mut value = 0;
    let mut i = 0;
    while i < bytes.len() {
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

/// `-extension LIFESIGN` on the server's command line sets this, and the server then skips
/// the extension's init.
static mut DISABLED_ON_COMMAND_LINE: sys::Bool = 0;

static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Whether this build may run in this server: judged once, at the first setup, before the
/// module touches anything of the server; a refusal is one `(EE)` line.
fn may_run() -> bool {
    static VERDICT: OnceLock<bool> = OnceLock::new();
    *VERDICT.get_or_init(|| {
        guard::entry(
            "server check",
            || false,
            || {
                let (found, built) = (identity::found(), identity::built());
                match lifesign_watchdog::server_id::judge(&found, &built) {
                    Ok(()) => {
                        if let Some(release) = found.release {
                            tracing::info!(
                                "in X.Org {release}; built for X.Org {} (against {})",
                                built.release.series(),
                                built.release
                            );
                        }
                        true
                    }
                    Err(line) => {
                        tracing::error!("{line}");
                        false
                    }
                }
            },
        )
    })
}

/// Puts the extension in the server's list, once per process however often we are set up.
fn register_once() {
    if REGISTERED.swap(true, Ordering::Relaxed) {
        return;
    }
    let list = [sys::ExtensionModule {
        initFunc: Some(extension_init),
        name: EXTENSION_NAME_C.as_ptr(),
        disablePtr: &raw mut DISABLED_ON_COMMAND_LINE,
    }];
    // SAFETY: on the server thread before InitExtensions runs (module setup, or the
    // constructor before main); the server copies the entries; the name and the flag are
    // statics of the library.
    unsafe { sys::LoadExtensionList(list.as_ptr(), 1, 0) };
}

unsafe extern "C" fn extension_init() {
    guard::entry("extension init", || (), || module().init_generation());
}

/// Xorg's setup procedure. It runs once per `Load` line or `SubSection` naming the module:
/// options of every call are collected, the extension is registered once.
unsafe extern "C" fn setup(
    _module: *mut c_void,
    options: *mut c_void,
    _errmaj: *mut c_int,
    _errmin: *mut c_int,
) -> *mut c_void {
    log::init(log::Sink::LogFile);
    if !may_run() {
        // Loaded, but inert: no extension, no hook; the server starts as if without us.
        return NonNull::<c_void>::dangling().as_ptr();
    }
    // SAFETY: the loader passes the option list of the module's SubSection, or NULL; the
    // config parser keeps it alive for the server's life.
    let pairs = unsafe { option_pairs(options.cast()) };
    guard::entry(
        "module setup",
        || (),
        || module().setup(Options::XorgConf(pairs)),
    );
    register_once();
    // NULL would make the loader unload the module; the server must start either way.
    NonNull::<c_void>::dangling().as_ptr()
}

/// # Safety
/// `first` is NULL or the head of a valid `XF86OptionRec` list.
unsafe fn option_pairs(first: *const sys::XF86OptionRec) -> Vec<(String, String)> {
    let text = |p: *const std::ffi::c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: option names and values are NUL-terminated strings of the parser.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    let mut pairs = Vec::new();
    let mut option = first;
    while !option.is_null() {
        // SAFETY: non-null members of the list are valid XF86OptionRecs.
        let rec = unsafe { &*option };
        pairs.push((text(rec.opt_name), text(rec.opt_val)));
        option = rec.list.next.cast();
    }
    pairs
}

/// Preload mode. Under Xorg's loader (dlopen) `LD_PRELOAD` does not name us and this does
/// nothing.
///
/// SAFETY (of running before main): it only reads and writes the environment, then calls
/// `LoadExtensionList`, which needs no initialised server state (mi/miinitext.c).
#[ctor::ctor(unsafe)]
fn preload() {
    let Some(rest) = preload_without_us() else {
        return;
    };
    // Children of the server (xkbcomp) must not load the module.
    // SAFETY: constructors run before main, before the server starts any thread.
    unsafe {
        if rest.is_empty() {
            std::env::remove_var("LD_PRELOAD");
        } else {
            std::env::set_var("LD_PRELOAD", rest);
        }
    }
    log::init(log::Sink::Stderr);
    if !may_run() {
        return;
    }
    let options = std::env::var("LIFESIGN_OPTIONS").unwrap_or_default();
    guard::entry(
        "preload setup",
        || (),
        || module().setup(Options::Environment(options)),
    );
    register_once();
}

/// `LD_PRELOAD` without our entries, or `None` if it has none (we were not preloaded).
fn preload_without_us() -> Option<OsString> {
    let value = std::env::var_os("LD_PRELOAD")?;
    let is_us = |entry: &[u8]| {
        let name = entry.rsplit(|&b| b == b'/').next().unwrap_or(entry);
        name.starts_with(b"liblifesign")
    };
    let entries: Vec<&[u8]> = value
        .as_bytes()
        .split(|&b| b == b':' || b == b' ')
        .filter(|e| !e.is_empty())
        .collect();
    if !entries.iter().any(|e| is_us(e)) {
        return None;
    }
    let rest: Vec<&[u8]> = entries.into_iter().filter(|e| !is_us(e)).collect();
    Some(OsString::from_vec(rest.join(&b':')))
}
