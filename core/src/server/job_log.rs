//! The per-job "start" / "done" / "fail" lines of Sidekiq 7's default logger, written by the
//! core: a worker thread hands over the facts without waiting, and a writer thread formats
//! the lines and writes them to standard output in batches, with no GVL involved.
//!
//! Whatever else the process writes to standard output meanwhile (its logger's lines, a job's
//! `puts`) is handed to the same writer as text, so every line comes out in the order it was
//! written, whether standard output is a terminal, a file or a pipe.
//!
//! The layout is `Sidekiq::Logger::Formatters::Pretty`'s:
//! `2026-11-28T10:00:12.261Z pid=12 tid=abc class=HardJob jid=... elapsed=0.012 INFO: done`.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};

use crate::json::ruby_float;
use crate::server::heartbeat::utc_date;

/// Who a log line is about.
#[derive(Debug, Clone, PartialEq)]
pub struct JobContext {
    pub class: String,
    pub jid: String,
    pub bid: Option<String>,
    pub tags: Vec<String>,
}

enum Entry {
    Line {
        at: SystemTime,
        tid: String,
        context: JobContext,
        elapsed: Option<f64>,
        message: &'static str,
    },
    /// Already formatted (by the Ruby side).
    Text(Vec<u8>),
    Flush(Sender<()>),
}

/// Handle to the writer thread.
pub struct JobLog {
    entries: Sender<Entry>,
    pid: u32,
}

impl JobLog {
    /// Starts the writer thread; lines go to `out` (standard output in a server).
    pub fn start(out: Box<dyn Write + Send>) -> std::io::Result<JobLog> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let pid = std::process::id();
        std::thread::Builder::new()
            .name("ferrokiq-joblog".into())
            .spawn(move || write_loop(rx, out, pid))?;
        Ok(JobLog { entries: tx, pid })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn started(&self, tid: &str, context: &JobContext) {
        self.send(tid, context.clone(), None, "start");
    }

    pub fn finished(&self, tid: &str, context: JobContext, elapsed: Duration, failed: bool) {
        let elapsed = (elapsed.as_secs_f64() * 1000.0).round() / 1000.0;
        let message = if failed { "fail" } else { "done" };
        self.send(tid, context, Some(elapsed), message);
    }

    fn send(&self, tid: &str, context: JobContext, elapsed: Option<f64>, message: &'static str) {
        // The writer lives as long as this handle; a send can only fail once it is gone.
        let _ = self.entries.send(Entry::Line {
            at: SystemTime::now(),
            tid: tid.to_string(),
            context,
            elapsed,
            message,
        });
    }

    /// Queues text for standard output behind everything sent before it.
    pub fn text(&self, bytes: Vec<u8>) {
        let _ = self.entries.send(Entry::Text(bytes));
    }

    /// Waits until every line sent so far is written.
    pub fn flush(&self) {
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        if self.entries.send(Entry::Flush(done_tx)).is_ok() {
            let _ = done_rx.recv_timeout(std::time::Duration::from_secs(5));
        }
    }
}

fn write_loop(entries: Receiver<Entry>, mut out: Box<dyn Write + Send>, pid: u32) {
    let mut buffer = Vec::with_capacity(64 * 1024);
    while let Ok(first) = entries.recv() {
        let mut flushes = Vec::new();
        for entry in std::iter::once(first).chain(entries.try_iter().take(1000)) {
            match entry {
                Entry::Line {
                    at,
                    tid,
                    context,
                    elapsed,
                    message,
                } => format_line(&mut buffer, at, pid, &tid, &context, elapsed, message),
                Entry::Text(bytes) => buffer.extend_from_slice(&bytes),
                Entry::Flush(done) => flushes.push(done),
            }
        }
        // A closed or full standard output must not stop the jobs; the lines are dropped.
        let _ = out.write_all(&buffer).and_then(|()| out.flush());
        buffer.clear();
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// One line in the Pretty formatter's layout.
pub fn format_line(
    out: &mut Vec<u8>,
    at: SystemTime,
    pid: u32,
    tid: &str,
    context: &JobContext,
    elapsed: Option<f64>,
    message: &str,
) {
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let day_seconds = seconds % 86_400;
    let _ = write!(
        out,
        "{}T{:02}:{:02}:{:02}.{:03}Z pid={pid} tid={tid} class={} jid={}",
        utc_date(seconds as f64),
        day_seconds / 3600,
        day_seconds % 3600 / 60,
        day_seconds % 60,
        since_epoch.subsec_millis(),
        context.class,
        context.jid,
    );
    if let Some(bid) = &context.bid {
        let _ = write!(out, " bid={bid}");
    }
    if !context.tags.is_empty() {
        let _ = write!(out, " tags={}", context.tags.join(","));
    }
    if let Some(elapsed) = elapsed {
        let _ = write!(out, " elapsed={}", ruby_float(elapsed).unwrap_or_default());
    }
    let _ = writeln!(out, " INFO: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// An output the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn text_and_job_lines_come_out_in_the_order_they_were_sent() {
        let out = Captured::default();
        let log = JobLog::start(Box::new(out.clone())).unwrap();
        let context = JobContext {
            class: "A".into(),
            jid: "j".into(),
            bid: None,
            tags: vec![],
        };
        for i in 0..200 {
            log.started("t", &context);
            log.text(format!("inside {i}\n").into_bytes());
            log.finished("t", context.clone(), Duration::ZERO, false);
        }
        log.flush();
        let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let kinds: Vec<&str> = written
            .lines()
            .map(|line| line.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(kinds.len(), 600);
        for (i, chunk) in kinds.chunks(3).enumerate() {
            assert_eq!(chunk, ["start", &i.to_string(), "done"]);
        }
    }

    #[test]
    fn lines_match_sidekiqs_pretty_formatter() {
        let context = JobContext {
            class: "HardJob".into(),
            jid: "0123456789abcdef01234567".into(),
            bid: None,
            tags: vec!["a".into(), "b".into()],
        };
        let at = UNIX_EPOCH + Duration::from_millis(1_795_860_012_261);
        let mut out = Vec::new();
        format_line(&mut out, at, 12, "abc", &context, None, "start");
        format_line(&mut out, at, 12, "abc", &context, Some(0.0), "done");
        format_line(&mut out, at, 12, "abc", &context, Some(1.25), "fail");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-11-28T10:00:12.261Z pid=12 tid=abc class=HardJob jid=0123456789abcdef01234567 tags=a,b INFO: start\n\
             2026-11-28T10:00:12.261Z pid=12 tid=abc class=HardJob jid=0123456789abcdef01234567 tags=a,b elapsed=0.0 INFO: done\n\
             2026-11-28T10:00:12.261Z pid=12 tid=abc class=HardJob jid=0123456789abcdef01234567 tags=a,b elapsed=1.25 INFO: fail\n"
        );
    }
}
