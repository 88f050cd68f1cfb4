//! `lifesign-demo`: the whole story on this machine. A remote application's host loses its
//! cable and the application comes back from the backup host; a hung application is caught
//! by the server's own `_NET_WM_PING` and replaced. `lifesign overlay`, started by the
//! launcher, marks the stale window and the lost one's place. Prints a timeline in ms and
//! writes captioned screenshots and a picture of the timeline. Needs root for network
//! namespaces and Xorg; without root it runs the hung-application part on Xvfb and says
//! what it skipped. Cleans up on exit and on Ctrl-C.

mod chart;
mod display;
mod picture;
mod scenes;
mod shot;
mod text;
mod timeline;

use lifesign_tests::unix_ms;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set by SIGINT or SIGTERM: every wait gives up, and the drops clean up.
#[derive(Clone)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Whether SIGINT or SIGTERM came.
    pub fn interrupted(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Polls `f` every 10 ms for up to `timeout`; the Unix ms at which it held.
    pub fn wait(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut() -> bool,
    ) -> Result<u64, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.interrupted() {
                return Err("interrupted; cleaning up".into());
            }
            if f() {
                return Ok(unix_ms());
            }
            if Instant::now() > deadline {
                return Err(format!("{what}: not within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn main() -> ExitCode {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, flag.clone()) {
            eprintln!("lifesign-demo: cannot handle signal {signal}: {e}");
        }
    }
    let stop = Stop(flag);
    let out = std::env::var_os("LIFESIGN_DEMO_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/demo"));
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("lifesign-demo: {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let result = if rustix::process::geteuid().is_root() {
        scenes::with_hosts(&out, &stop)
    } else {
        println!(
            "Not root: skipping the cable cut (network namespaces and Xorg on the dummy driver need root)."
        );
        println!("Running the hung-application part on Xvfb with local clients instead.\n");
        scenes::local(&out, &stop)
    };
    match result {
        Ok(pictures) => {
            println!("\nScreenshots and the timeline:");
            for shot in pictures {
                println!("  {}", shot.display());
            }
            println!(
                "Done in {:.1} s; everything it started is stopped.",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lifesign-demo: {e}");
            ExitCode::FAILURE
        }
    }
}
