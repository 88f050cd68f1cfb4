//! Generates the raw bindings from the installed X.Org server SDK.
//!
//! The SDK is found through `LIFESIGN_XORG_INCLUDE` (a directory holding `xorg-server.h`,
//! colon-separated extra include directories may follow) or else `pkg-config xorg-server`.
//! Only what lifesign uses is allowlisted, so the bindings stay small and a server header
//! change that matters shows up as a build error here rather than as undefined behaviour.

use std::env;
use std::path::PathBuf;

const SDK_PACKAGE: &str = "xserver-xorg-dev";
const CLANG_PACKAGE: &str = "libclang-dev";

const FUNCTIONS: &[&str] = &[
    "AddCallback",
    "ClientIsAsleep",
    "dixLookupProperty",
    "LookupClientResourceComplex",
    "MakeAtom",
    "ResourceClientBits",
    "SetNotifyFd",
    "WriteEventsToClient",
    "AddExtension",
    "AdjustWaitForDelay",
    "CloseDownClient",
    "DeleteCallback",
    "GetClientCmdName",
    "GetClientFd",
    "GetClientPid",
    "GetTimeInMillis",
    "LoadExtensionList",
    "LogMessageVerb",
    "LogMessageVerbSigSafe",
    "RegisterBlockAndWakeupHandlers",
    "RemoveBlockAndWakeupHandlers",
    "StandardMinorOpcode",
    "WriteToClient",
    "XaceHook",
    "TimerSet",
    "TimerFree",
];

const VARIABLES: &[&str] = &[
    "ClientStateCallback",
    "EventSwapVector",
    "FlushCallback",
    "XaceHooks",
    "ProcVector",
    "ServerGrabCallback",
    "SwappedProcVector",
    "display",
    "X_NOTIFY_.*",
    "screenInfo",
    "serverClient",
    "clients",
    "currentMaxClients",
    "serverGeneration",
    "LIFESIGN_.*",
    "ABI_CLASS_EXTENSION",
    "MOD_CLASS_EXTENSION",
];

const TYPES: &[&str] = &[
    "ClientRec",
    "ExtensionEntry",
    "ExtensionModule",
    "MessageType",
    "NewClientInfoRec",
    "XF86ModuleData",
    "XF86ModuleVersionInfo",
    "XF86OptionRec",
    "ClientState",
    "PropertyRec",
    "ScreenInfo",
    "ServerGrabInfoRec",
    "ServerGrabState",
    "WindowRec",
    "xEvent",
    "XaceSendAccessRec",
    "XacePropertyAccessRec",
];

fn main() {
    println!("cargo:rerun-if-changed=build/wrapper.h");
    println!("cargo:rerun-if-env-changed=LIFESIGN_XORG_INCLUDE");

    let include_paths = sdk_include_paths();
    if !include_paths
        .iter()
        .any(|dir| dir.join("xorg-server.h").is_file())
    {
        fail(&format!(
            "xorg-server.h not found in {include_paths:?}: install the Debian package {SDK_PACKAGE} \
             (apt-get install {SDK_PACKAGE}) or point LIFESIGN_XORG_INCLUDE at the SDK's include directory"
        ));
    }

    let mut builder = bindgen::Builder::default()
        .header("build/wrapper.h")
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .use_core()
        .derive_default(true)
        .layout_tests(true)
        .generate_comments(false)
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::Consts);
    for dir in &include_paths {
        builder = builder.clang_arg(format!("-I{}", dir.display()));
    }
    for f in FUNCTIONS {
        builder = builder.allowlist_function(f);
    }
    for v in VARIABLES {
        builder = builder.allowlist_var(v);
    }
    for t in TYPES {
        builder = builder.allowlist_type(t);
    }

    // bindgen panics when it cannot load libclang; turn that into an answer a user can act on.
    let generated =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || builder.generate()))
            .unwrap_or_else(|_| {
                fail(&format!(
                    "bindgen could not load libclang: install the Debian package {CLANG_PACKAGE} \
             (apt-get install {CLANG_PACKAGE}) or set LIBCLANG_PATH"
                ))
            });
    let bindings = generated.unwrap_or_else(|e| {
        fail(&format!(
            "bindgen failed on the X.Org server SDK headers ({e}); is {SDK_PACKAGE} complete?"
        ))
    });

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("bindings.rs");
    bindings
        .write_to_file(&out)
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", out.display())));
}

/// Include directories of the SDK: the override first, else pkg-config.
fn sdk_include_paths() -> Vec<PathBuf> {
    if let Ok(dirs) = env::var("LIFESIGN_XORG_INCLUDE") {
        return env::split_paths(&dirs).collect();
    }
    match pkg_config::Config::new()
        .cargo_metadata(false)
        .env_metadata(true)
        .probe("xorg-server")
    {
        Ok(lib) => lib.include_paths,
        Err(e) => fail(&format!(
            "pkg-config cannot find xorg-server ({e}): install the Debian packages {SDK_PACKAGE} and \
             pkg-config (apt-get install {SDK_PACKAGE} pkg-config), or set LIFESIGN_XORG_INCLUDE"
        )),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: lifesign-sys: {message}");
    panic!("lifesign-sys: {message}");
}
