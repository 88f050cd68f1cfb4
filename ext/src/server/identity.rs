//! Which server the module was loaded into, read before anything of the server is touched
//! (the rules: `lifesign_watchdog::server_id`).
//!
//! Each lookup goes through `dlsym`, never a link-time reference, so that a server lacking
//! one of these is an answer here rather than a failed load:
//! - Xorg: `xorgGetVersion()` (its `XORG_VERSION_CURRENT`) and the loader's extension ABI
//!   (`LoaderGetABIVersion`).
//! - Servers without a loader (Xvfb, Xephyr, Xtigervnc): their release number lives in the
//!   static `VendorRelease` of dix/dispatch.c, which only `SetVendorRelease(int)` exports; on
//!   x86-64 that function is one store, `mov %edi, VendorRelease(%rip); ret`, so the number is
//!   read at the address that store names (checked in Debian 11, 12 and 13's servers). Another
//!   instruction sequence, or another architecture, reads as "cannot tell", and the build
//!   refuses to run.
//!
//! The server functions and variables the module links to are another matter: the library is
//! linked with full RELRO (BIND_NOW), so each must exist for it to load at all. They exist in
//! every 1.20 and 21.1 server (the support matrix); a server without them (Xwayland exports
//! none) fails to load the module, under Xorg with its loader's error, in preload mode before
//! `main`: that is why such servers are not supported, not something this check can soften.

use lifesign_sys as sys;
use lifesign_watchdog::server_id::{Abi, Built, Found, Release};
use std::ffi::{CStr, c_void};

/// What this build was built against.
pub fn built() -> Built {
    Built {
        release: Release::from_number(sys::LIFESIGN_XORG_VERSION_CURRENT),
        extension_abi: Abi::from_packed(sys::LIFESIGN_ABI_EXTENSION_VERSION),
    }
}

/// The server the process is.
pub fn found() -> Found {
    Found {
        release: xorg_version()
            .or_else(vendor_release)
            .map(Release::from_number),
        extension_abi: extension_abi(),
    }
}

fn symbol(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only looks the name up.
    let address = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!address.is_null()).then_some(address)
}

/// Xorg's `CARD32 xorgGetVersion(void)`.
fn xorg_version() -> Option<u32> {
    let address = symbol(c"xorgGetVersion")?;
    // SAFETY: Xorg defines xorgGetVersion as `CARD32 xorgGetVersion(void)` (xorgHelper.c),
    // which returns a constant and touches no state.
    let get: unsafe extern "C" fn() -> u32 = unsafe { std::mem::transmute(address) };
    // SAFETY: as above.
    Some(unsafe { get() })
}

/// Xorg's loader: `unsigned int LoaderGetABIVersion(const char *abiclass)`.
fn extension_abi() -> Option<Abi> {
    let address = symbol(c"LoaderGetABIVersion")?;
    // SAFETY: the loader's declaration (loaderProcs.h); it compares the class name with its
    // table and returns a constant.
    let get: unsafe extern "C" fn(*const std::ffi::c_char) -> u32 =
        unsafe { std::mem::transmute(address) };
    // SAFETY: as above; the class name is a NUL-terminated static of the SDK.
    let packed = unsafe { get(sys::ABI_CLASS_EXTENSION.as_ptr().cast()) };
    (packed != 0).then(|| Abi::from_packed(packed))
}

/// The release number `SetVendorRelease` stores to, read where it stores it.
#[cfg(target_arch = "x86_64")]
fn vendor_release() -> Option<u32> {
    const ENDBR64: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfa];
    const MOV_EDI_RIP: [u8; 2] = [0x89, 0x3d];
    const RET: u8 = 0xc3;
    let code = symbol(c"SetVendorRelease")?.cast::<u8>().cast_const();
    // Reads byte by byte, and no further than a byte that breaks the pattern, so that nothing
    // past the function's own instructions is read.
    // SAFETY: `code` is the start of a function of the server's mapped, readable text; each
    // read below is only made while every earlier byte matched a store-and-return, whose
    // instructions are at least as long as what is read.
    let byte = |i: usize| unsafe { code.add(i).read() };
    let mut at = 0;
    if byte(0) == ENDBR64[0] {
        if (1..4).any(|i| byte(i) != ENDBR64[i]) {
            return None;
        }
        at = 4;
    }
    if byte(at) != MOV_EDI_RIP[0] || byte(at + 1) != MOV_EDI_RIP[1] {
        return None;
    }
    let displacement = i32::from_le_bytes([byte(at + 2), byte(at + 3), byte(at + 4), byte(at + 5)]);
    if byte(at + 6) != RET {
        return None;
    }
    // The displacement counts from the next instruction's address.
    let target = code
        .wrapping_add(at + 6)
        .wrapping_offset(displacement as isize)
        .cast::<u32>();
    // An int the compiler placed is aligned; anything else is not the variable we look for.
    if !target.is_aligned() {
        return None;
    }
    // SAFETY: the RIP-relative target of the server's own store of its argument: its
    // `VendorRelease`, an aligned int of its data segment, mapped and readable for the
    // process's life.
    Some(unsafe { target.read_volatile() })
}

#[cfg(not(target_arch = "x86_64"))]
fn vendor_release() -> Option<u32> {
    None
}
