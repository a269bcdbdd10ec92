//! `delay-proxy LISTEN_PORT UPSTREAM_PORT ROUND_TRIP_MICROS`: forwards TCP connections from
//! 127.0.0.1:LISTEN_PORT to 127.0.0.1:UPSTREAM_PORT and delivers every chunk half the round
//! trip after it arrived, in each direction.
//!
//! For the benchmarks' "Redis 1 ms away" condition on kernels without the `netem` qdisc. Plain
//! threads and `nanosleep`, because async timers tick in whole milliseconds.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

fn arg(n: usize) -> Result<u64, String> {
    std::env::args()
        .nth(n)
        .ok_or_else(|| {
            "usage: delay-proxy LISTEN_PORT UPSTREAM_PORT ROUND_TRIP_MICROS".to_string()
        })?
        .parse()
        .map_err(|e| format!("argument {n}: {e}"))
}

fn main() -> Result<(), String> {
    let (listen, upstream) = (arg(1)? as u16, arg(2)? as u16);
    let one_way = Duration::from_micros(arg(3)? / 2);
    let listener = TcpListener::bind(("127.0.0.1", listen)).map_err(|e| e.to_string())?;
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        for (from, to) in [(&client, &server), (&server, &client)] {
            if let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) {
                relay(from, to, one_way);
            }
        }
    }
    Ok(())
}

/// Copies one direction on two threads: a reader stamps chunks, a writer sends each one when
/// its time has come.
fn relay(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (chunks_tx, chunks_rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(read) = from.read(&mut buffer) {
            if read == 0
                || chunks_tx
                    .send((Instant::now() + delay, buffer[..read].to_vec()))
                    .is_err()
            {
                break;
            }
        }
    });
    thread::spawn(move || {
        while let Ok((due, chunk)) = chunks_rx.recv() {
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
}
