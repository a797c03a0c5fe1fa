//! Verifies a JSON Lines trail of the benches' reference events (written first if missing) and
//! prints wall time and CPU time per event: a fixed workload for `valgrind --tool=callgrind`,
//! and a figure (CPU time) that depends less on other work on the machine than wall time does.
//!
//! `verify_trail [EVENTS] [THREADS] [RUNS]` (defaults 1000000, all cores, 1); the trail is
//! kept in `$TMPDIR/audit-verify-EVENTS.jsonl`.

#[path = "../benches/common.rs"]
mod common;

use audit_core::verify::{ChainVerifier, verify_reader};
use std::time::Instant;

/// User and system CPU seconds of this process so far (all threads), from `/proc/self/stat`.
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // After the name: state is field 0, utime field 11, stime field 12 (in clock ticks).
    (ticks(11) / 100.0, ticks(12) / 100.0)
}

fn main() -> std::io::Result<()> {
    let arg = |i: usize| std::env::args().nth(i).and_then(|a| a.parse::<u64>().ok());
    let events = arg(1).unwrap_or(1_000_000);
    let threads = arg(2).map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |t| t as usize);
    let runs = arg(3).unwrap_or(1);
    let path = std::env::temp_dir().join(format!("audit-verify-{events}.jsonl"));
    if !path.exists() {
        std::fs::write(&path, common::chain_text(events))?;
    }
    for _ in 0..runs {
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        let report = verify_reader(std::fs::File::open(&path)?, ChainVerifier::from_genesis().threads(threads))?;
        let (wall, (user, system)) = (wall.elapsed().as_secs_f64(), cpu_seconds());
        let (user, system) = (user - cpu.0, system - cpu.1);
        let cpu = user + system;
        assert!(report.is_valid() && report.verified == events, "{report:?}");
        println!(
            "{events} events, {threads} threads: {wall:.3} s, {:.0} k events/s; CPU {cpu:.2} s (system {system:.2} s), {:.2} µs/event",
            events as f64 / wall / 1e3,
            cpu * 1e6 / events as f64
        );
    }
    Ok(())
}
