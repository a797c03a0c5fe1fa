//! Runs `line::inspect` on the benches' reference line N times: a fixed workload for
//! `valgrind --tool=callgrind`, whose instruction counts do not depend on machine load.
//! `inspect_loop N ROUNDS` also times ROUNDS rounds of N lines and prints the best.

#[path = "../benches/common.rs"]
mod common;

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let line = common::typical_event(42, audit_core::EventHash([7; 32])).to_canonical_line();
    let mut ok = 0u64;
    for _ in 0..n {
        ok += u64::from(audit_core::line::inspect(std::hint::black_box(line.as_bytes())).is_ok());
    }
    println!("{ok} of {n} lines valid");
    // Also, with a second argument: the best of that many timed rounds, in ns per line (the
    // minimum is the figure least disturbed by other work on the machine).
    if let Some(rounds) = std::env::args().nth(2).and_then(|a| a.parse::<u32>().ok()) {
        let best = (0..rounds)
            .map(|_| {
                let start = std::time::Instant::now();
                for _ in 0..n {
                    std::hint::black_box(audit_core::line::inspect(std::hint::black_box(line.as_bytes())).is_ok());
                }
                start.elapsed().as_nanos() as f64 / n as f64
            })
            .fold(f64::INFINITY, f64::min);
        println!("best of {rounds} rounds: {best:.0} ns per line");
    }
}
