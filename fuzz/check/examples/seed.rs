//! Writes every target's seeds into `DIR/<target>/` (default `fuzz/work`), for libFuzzer to
//! start from: `cargo run -p lifesign-fuzz-check --example seed -- DIR`.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("fuzz/work"), PathBuf::from);
    for (target, _) in lifesign_fuzz_check::TARGETS {
        let out = dir.join(target);
        std::fs::create_dir_all(&out)?;
        for (i, seed) in lifesign_fuzz_check::seeds::of(target).iter().enumerate() {
            std::fs::write(out.join(format!("seed-{i:03}")), seed)?;
        }
    }
    Ok(())
}
