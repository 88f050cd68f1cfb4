//! The transport's cost at scale: 2000 idle TCP clients (over loopback) on each of three Xorg
//! side by side: stock, the module with TransportTimeout 0 (its sweeps of request counts
//! only), and with the default 10 s (keepalive on every socket, and a look at each socket's
//! TCP_INFO every second: `watchdog/src/transfer.rs`). Server CPU per measuring window; the
//! difference between the last two is what the transport mode costs.

use crate::fleet;
use crate::scale::{CLIENTS, MAX_CLIENTS, OPTIONS};
use lifesign_proto::ByteOrder;
use lifesign_tests::{Server, Xorg};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

/// The servers, in the order of each window's figures.
pub const SERVERS: [&str; 3] = [
    "stock Xorg",
    "lifesign, TransportTimeout 0",
    "lifesign, TransportTimeout 10s",
];
const WARM_UP: Duration = Duration::from_secs(5);

pub struct TcpCost {
    pub window: Duration,
    /// Per measuring window, each server's CPU in % of one core.
    pub cpu_pct: Vec<[f64; 3]>,
}

fn server(transport: Option<&str>) -> Server {
    let mut xorg = Xorg::new().tcp().args(MAX_CLIENTS);
    match transport {
        None => xorg = xorg.stock(),
        Some(t) => {
            for (name, value) in OPTIONS {
                xorg = xorg.option(name, value);
            }
            xorg = xorg.option("TransportTimeout", t);
        }
    }
    xorg.start()
}

fn connect(server: &Server) -> Vec<TcpStream> {
    let port = 6000 + u16::try_from(server.display_number()).expect("a display number");
    (0..CLIENTS)
        .map(|i| {
            let mut s = TcpStream::connect(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("TCP client {i} of {CLIENTS}: {e}"));
            lifesign_tests::raw::set_up(&mut s, ByteOrder::native())
                .unwrap_or_else(|e| panic!("TCP client {i} of {CLIENTS}: {e}"));
            s
        })
        .collect()
}

pub fn run(windows: usize, window: Duration) -> TcpCost {
    fleet::raise_fd_limit(16_384);
    let servers = [server(None), server(Some("0")), server(Some("10s"))];
    let _clients: Vec<Vec<TcpStream>> = servers.iter().map(connect).collect();
    thread::sleep(WARM_UP);
    let cpu_pct = fleet::cpu_windows(&servers, SERVERS, windows, window, "TCP scale");
    TcpCost { window, cpu_pct }
}
