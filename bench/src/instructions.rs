//! The module's cost in instructions, which no other load on the machine changes: Xorg under
//! callgrind, a flood of NoOperation requests from a raw client, instructions counted only
//! while the flood is handled (`callgrind_control -i on/off`).

use crate::overhead::ALL_MODES;
use lifesign_proto::ByteOrder;
use lifesign_tests::raw::RawClient;
use lifesign_tests::{Server, Xorg};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub const FLOOD: usize = 2_000_000;

pub struct Count {
    pub name: &'static str,
    pub per_request: f64,
}

fn callgrind_control(server: &Server, flag: &str) {
    let status = Command::new("callgrind_control")
        .args(["-i", flag, &server.pid().to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run callgrind_control (valgrind)");
    assert!(status.success(), "callgrind_control -i {flag} failed");
}

fn totals(path: &Path) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(total) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("totals:").map(|v| v.trim().parse().ok()))
            })
            .flatten()
        {
            return total;
        }
        assert!(
            Instant::now() < deadline,
            "callgrind wrote no totals to {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn measure(name: &'static str, xorg: Xorg, out: &Path) -> Count {
    let file = format!("--callgrind-out-file={}", out.display());
    let server = xorg
        .wrapped(&["valgrind", "--tool=callgrind", "--instr-atstart=no", &file])
        .start();
    let mut client =
        RawClient::connect(server.display_number(), ByteOrder::native()).expect("connect");
    client.round_trip().expect("a first round trip");
    callgrind_control(&server, "on");
    let sent = client
        .flood_no_operations(FLOOD)
        .expect("send NoOperations");
    client
        .round_trip()
        .expect("the server answers after the flood");
    callgrind_control(&server, "off");
    drop(client);
    drop(server); // callgrind writes its totals as the server exits
    let per_request = totals(out) as f64 / sent as f64;
    eprintln!("{name}: {per_request:.2} instructions per NoOperation");
    Count { name, per_request }
}

/// Stock, the module with its defaults (the raw client, local, not watched), and every mode
/// with the client watched.
pub fn run() -> Vec<Count> {
    let dir = tempfile_dir();
    let mut all = Xorg::new();
    for (name, value) in ALL_MODES {
        all = all.option(name, value);
    }
    vec![
        measure("stock Xorg", Xorg::new().stock(), &dir.join("stock.out")),
        measure(
            "lifesign, default options (client not watched)",
            Xorg::new(),
            &dir.join("defaults.out"),
        ),
        measure(
            "lifesign, every mode, client watched",
            all,
            &dir.join("all.out"),
        ),
    ]
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lifesign-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}
