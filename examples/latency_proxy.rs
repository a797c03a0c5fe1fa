//! A TCP proxy that delays every chunk of bytes by a fixed time in each direction: a database
//! "on another host" for load tests on one machine (the container has no `tc netem`).
//!
//! ```text
//! cargo run --release --example latency_proxy -- 127.0.0.1:6432 127.0.0.1:5432 250
//! ```
//! listens on 127.0.0.1:6432, forwards to 127.0.0.1:5432, and delays each direction by
//! 250 µs (a round trip of 0.5 ms more). Two threads per connection and direction (one reads,
//! one writes when the chunk's time has come), so the delay does not depend on a runtime's
//! timer granularity; order and content are kept.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: latency_proxy LISTEN_ADDR UPSTREAM_ADDR DELAY_MICROSECONDS";
    let (Some(listen), Some(upstream), Some(delay)) = (args.next(), args.next(), args.next()) else {
        return Err(usage.into());
    };
    let delay = Duration::from_micros(delay.parse().map_err(|_| usage)?);
    let listener = TcpListener::bind(&listen)?;
    eprintln!("latency_proxy: {listen} -> {upstream}, {} µs each way", delay.as_micros());
    for client in listener.incoming() {
        let client = client?;
        let upstream = upstream.clone();
        thread::spawn(move || {
            if let Err(e) = relay(client, &upstream, delay) {
                eprintln!("latency_proxy: connection ended: {e}");
            }
        });
    }
    Ok(())
}

fn relay(client: TcpStream, upstream: &str, delay: Duration) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let there = forward(client.try_clone()?, server.try_clone()?, delay);
    let back = forward(server, client, delay);
    let _ = there.join();
    let _ = back.join();
    Ok(())
}

/// Copies `from` to `to`, each chunk `delay` after it was read.
fn forward(mut from: TcpStream, mut to: TcpStream, delay: Duration) -> thread::JoinHandle<()> {
    let (sender, receiver) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = thread::spawn(move || {
        for (due, chunk) in receiver {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sender.send((Instant::now() + delay, buffer[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
        drop(sender);
        let _ = writer.join();
    })
}
