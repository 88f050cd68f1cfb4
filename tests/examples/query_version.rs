//! Asks a display for the LIFESIGN extension and its version: `query_version :0`.

use lifesign_tests::lifesign;
use std::process::ExitCode;

fn main() -> ExitCode {
    let display = std::env::args().nth(1);
    let (conn, _) = match x11rb::connect(display.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot connect to the display: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(opcode) = lifesign::major_opcode(&conn) else {
        eprintln!("the display has no LIFESIGN extension");
        return ExitCode::FAILURE;
    };
    let version = lifesign::query_version(&conn);
    println!(
        "LIFESIGN {}.{} (major opcode {opcode})",
        version.major, version.minor
    );
    ExitCode::SUCCESS
}
