//! sd_notify(3) from the core: state changes written as datagrams to the socket systemd names
//! in NOTIFY_SOCKET (a path, or an abstract name written with a leading `@`), and the watchdog
//! thread, which pings only while the process is live by the same test as `/live`
//! (`health::liveness`): a wedged engine or a stuck heartbeat thread stops the pings, and
//! systemd restarts the process after `WatchdogSec=`.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::server::ops::Probe;

/// Sends one notification (`READY=1`, `STATUS=…`, …); the number of bytes sent.
pub fn notify(socket: &str, state: &str) -> io::Result<usize> {
    let sender = UnixDatagram::unbound()?;
    match socket.strip_prefix('@') {
        Some(name) => {
            let address = SocketAddr::from_abstract_name(name.as_bytes())?;
            sender.send_to_addr(state.as_bytes(), &address)
        }
        None => sender.send_to(state.as_bytes(), socket),
    }
}

/// The thread that sends `WATCHDOG=1` every `period` while the process is live.
pub struct Watchdog {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub fn start(probe: Probe, socket: String, period: Duration) -> io::Result<Watchdog> {
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(0);
        let thread = std::thread::Builder::new()
            .name("ferrokiq-watchdog".into())
            .spawn(move || ping_while_live(&probe, &socket, period, &stop_rx))?;
        Ok(Watchdog {
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// No more pings (the process is stopping: systemd stops watching at STOPPING=1).
    pub fn stop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ping_while_live(probe: &Probe, socket: &str, period: Duration, stop: &Receiver<()>) {
    let events = &probe.state.events;
    let (mut silent, mut unsent) = (false, false);
    // The stop sender dropping ends the wait with an error; a timeout means "ping now".
    while stop.recv_timeout(period) == Err(crossbeam_channel::RecvTimeoutError::Timeout) {
        let answer = probe.liveness();
        if !answer.live {
            if !silent {
                silent = true;
                let message = format!(
                    "systemd: the process is not making progress (engine thread last ran {:.1} s ago, heartbeat thread {:.1} s ago); no more watchdog pings",
                    answer.engine_age.as_secs_f64(),
                    answer.upkeep_age.as_secs_f64()
                );
                events.failure("systemd watchdog", message.clone(), message);
            }
            continue;
        }
        if silent {
            silent = false;
            events.info(
                "systemd: the process makes progress again; watchdog pings resume".to_string(),
            );
        }
        match notify(socket, "WATCHDOG=1") {
            Ok(_) => unsent = false,
            Err(e) if !unsent => {
                unsent = true;
                events.failure(
                    "systemd notification",
                    format!("systemd: cannot send a watchdog ping to {socket}: {e}"),
                    e.to_string(),
                );
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_and_to_an_abstract_name() {
        let dir = std::env::temp_dir().join(format!("ferrokiq-notify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path).expect("bind");
        let sent = notify(path.to_str().expect("utf-8"), "READY=1").expect("send");
        assert_eq!(sent, 7);
        let mut buffer = [0u8; 64];
        let read = receiver.recv(&mut buffer).expect("recv");
        assert_eq!(&buffer[..read], b"READY=1");

        let name = format!("ferrokiq-notify-test-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).expect("name");
        let abstract_receiver = UnixDatagram::bind_addr(&address).expect("bind abstract");
        notify(&format!("@{name}"), "STOPPING=1").expect("send abstract");
        let read = abstract_receiver.recv(&mut buffer).expect("recv");
        assert_eq!(&buffer[..read], b"STOPPING=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_socket_is_an_error() {
        assert!(notify("/nonexistent/notify.sock", "READY=1").is_err());
    }
}
