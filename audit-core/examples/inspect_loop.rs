//! Runs `line::inspect` on the benches' reference line N times: a fixed workload for
//! `valgrind --tool=callgrind`, whose instruction counts do not depend on machine load.

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
}
