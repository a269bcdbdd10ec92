//! The writer of a Sidekiq logger whose lines Ferrokiq formats (docs/design.md, §12): callers
//! hand over lines without waiting (a channel push, no system call, no GVL release), and the
//! `ferrokiq-log` thread formats them in the logger's layout (`crate::log_format`) and writes
//! them to the logger's device in batches, one `write` per batch.
//!
//! Three kinds of lines share the queue, so they come out in the order they were handed over:
//! the logger's own lines ([`Line`]), the per-job "start" / "done" / "fail" lines the engine
//! sends ([`JobContext`]), and text formatted elsewhere (a job's `puts` when the device is
//! standard output, lines Ruby had to format itself).

use std::fs::File;
use std::io::Write;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Receiver, Sender};

use crate::log_format::{format_line, severity_label, Layout, Line, Text, Value};

/// Who a job's lines are about: the job's Sidekiq context (`bid` and `tags` only when the
/// payload has them). Class and jid are usually short enough to be held inline, so the
/// "start" line's copy of the context allocates nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct JobContext {
    pub class: Text,
    pub jid: Text,
    pub bid: Option<Text>,
    pub tags: Option<Vec<Text>>,
}

enum Entry {
    Line(Line),
    Job {
        at: SystemTime,
        tid: Text,
        context: JobContext,
        elapsed: Option<f64>,
        message: &'static str,
    },
    /// Already formatted.
    Text(Vec<u8>),
    /// From now on the lines go to this file (the device was reopened).
    Reopen(File),
    /// The device is closed: later lines are dropped.
    Close,
    /// Lines queued from now on take this layout (the logger's formatter changed).
    Layout(Layout),
    Flush(Sender<()>),
}

/// Handle to the writer thread; the thread ends when the handle is dropped.
pub struct LogWriter {
    entries: Sender<Entry>,
}

impl LogWriter {
    /// Starts the writer thread for `out` (the logger's device) in `layout`.
    pub fn start(out: Box<dyn Write + Send>, layout: Layout) -> std::io::Result<LogWriter> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let pid = std::process::id();
        std::thread::Builder::new()
            .name("ferrokiq-log".into())
            .spawn(move || write_loop(rx, Some(out), layout, pid))?;
        Ok(LogWriter { entries: tx })
    }

    /// Queues one of the logger's lines.
    pub fn line(&self, line: Line) {
        self.send(Entry::Line(line));
    }

    /// Queues a job's "start" line.
    pub fn started(&self, tid: &str, context: &JobContext) {
        self.job(tid, context.clone(), None, "start");
    }

    /// Queues a job's "done" or "fail" line, with the elapsed seconds rounded as Ruby's
    /// `Float#round(3)`.
    pub fn finished(&self, tid: &str, context: JobContext, elapsed: Duration, failed: bool) {
        let elapsed = (elapsed.as_secs_f64() * 1000.0).round() / 1000.0;
        let message = if failed { "fail" } else { "done" };
        self.job(tid, context, Some(elapsed), message);
    }

    fn job(&self, tid: &str, context: JobContext, elapsed: Option<f64>, message: &'static str) {
        self.send(Entry::Job {
            at: SystemTime::now(),
            tid: tid.into(),
            context,
            elapsed,
            message,
        });
    }

    /// Queues text for the device behind everything sent before it.
    pub fn text(&self, bytes: Vec<u8>) {
        self.send(Entry::Text(bytes));
    }

    /// Lines queued after this go to `file`.
    pub fn reopen(&self, file: File) {
        self.send(Entry::Reopen(file));
    }

    /// Lines queued after this take `layout`.
    pub fn relayout(&self, layout: Layout) {
        self.send(Entry::Layout(layout));
    }

    /// Lines queued after this are dropped; the device is let go.
    pub fn close(&self) {
        self.send(Entry::Close);
    }

    fn send(&self, entry: Entry) {
        // The writer lives as long as this handle; a send can only fail once it is gone.
        let _ = self.entries.send(entry);
    }

    /// Waits (up to 5 seconds) until every line sent so far is written.
    pub fn flush(&self) {
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        if self.entries.send(Entry::Flush(done_tx)).is_ok() {
            let _ = done_rx.recv_timeout(Duration::from_secs(5));
        }
    }
}

fn write_loop(
    entries: Receiver<Entry>,
    mut out: Option<Box<dyn Write + Send>>,
    mut layout: Layout,
    pid: u32,
) {
    let mut buffer = Vec::with_capacity(64 * 1024);
    while let Ok(first) = entries.recv() {
        let mut next = Some(first);
        loop {
            write_batch(
                &entries,
                next.take(),
                &mut out,
                &mut layout,
                pid,
                &mut buffer,
            );
            // While jobs run, lines keep coming. Parked in `recv`, this thread would be woken by
            // the next line: a system call on the logging thread, with the GVL held, per batch of
            // one or two lines. So it naps for a gather interval instead, and parks again only
            // after an interval that brought nothing.
            std::thread::sleep(GATHER);
            if entries.is_empty() {
                break;
            }
        }
    }
}

/// How long the writer waits for more lines after writing a batch, before parking.
const GATHER: Duration = Duration::from_millis(2);

/// Formats and writes `first` and up to 1,000 queued entries after it, then answers the flush
/// requests among them.
fn write_batch(
    entries: &Receiver<Entry>,
    first: Option<Entry>,
    out: &mut Option<Box<dyn Write + Send>>,
    layout: &mut Layout,
    pid: u32,
    buffer: &mut Vec<u8>,
) {
    let mut flushes = Vec::new();
    for entry in first.into_iter().chain(entries.try_iter().take(1000)) {
        match entry {
            Entry::Line(line) => format_line(buffer, *layout, pid, &line),
            Entry::Job {
                at,
                tid,
                context,
                elapsed,
                message,
            } => format_line(
                buffer,
                *layout,
                pid,
                &job_line(at, tid, context, elapsed, message),
            ),
            Entry::Text(bytes) => buffer.extend_from_slice(&bytes),
            Entry::Reopen(file) => {
                write_out(out, buffer);
                *out = Some(Box::new(file));
            }
            Entry::Close => {
                write_out(out, buffer);
                *out = None;
            }
            Entry::Layout(next) => *layout = next,
            Entry::Flush(done) => flushes.push(done),
        }
    }
    write_out(out, buffer);
    for done in flushes {
        let _ = done.send(());
    }
}

/// A closed or full device must not stop the jobs: the lines are dropped.
fn write_out(out: &mut Option<Box<dyn Write + Send>>, buffer: &mut Vec<u8>) {
    if let Some(out) = out.as_mut() {
        if !buffer.is_empty() {
            let _ = out.write_all(buffer).and_then(|()| out.flush());
        }
    }
    buffer.clear();
}

/// A job line as `Sidekiq::JobLogger` logs it: the job's context, then `elapsed` once done.
fn job_line(
    at: SystemTime,
    tid: Text,
    job: JobContext,
    elapsed: Option<f64>,
    message: &'static str,
) -> Line {
    let mut context = Vec::with_capacity(5);
    context.push(("class".into(), Value::Str(job.class)));
    context.push(("jid".into(), Value::Str(job.jid)));
    if let Some(bid) = job.bid {
        context.push(("bid".into(), Value::Str(bid)));
    }
    if let Some(tags) = job.tags {
        let tags = tags.into_iter().map(Value::Str).collect();
        context.push(("tags".into(), Value::Array(tags)));
    }
    if let Some(elapsed) = elapsed {
        context.push(("elapsed".into(), Value::Float(elapsed)));
    }
    Line {
        at,
        severity: severity_label("INFO"),
        tid,
        context,
        message: Value::Str(message.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::UNIX_EPOCH;

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

    fn context() -> JobContext {
        JobContext {
            class: "A".into(),
            jid: "j".into(),
            bid: None,
            tags: None,
        }
    }

    #[test]
    fn lines_job_lines_and_text_come_out_in_the_order_they_were_sent() {
        let out = Captured::default();
        let log = LogWriter::start(Box::new(out.clone()), Layout::Pretty).unwrap();
        for i in 0..200 {
            log.started("t", &context());
            log.text(format!("puts {i}\n").into_bytes());
            log.line(Line {
                at: SystemTime::now(),
                severity: severity_label("WARN"),
                tid: "t".into(),
                context: vec![],
                message: Value::Str(format!("inside {i}").into()),
            });
            log.finished("t", context(), Duration::ZERO, false);
        }
        log.flush();
        let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let kinds: Vec<&str> = written
            .lines()
            .map(|line| line.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(kinds.len(), 800);
        for (i, chunk) in kinds.chunks(4).enumerate() {
            assert_eq!(chunk, ["start", &i.to_string(), &i.to_string(), "done"]);
        }
    }

    #[test]
    fn job_lines_match_sidekiqs_formatters() {
        let context = JobContext {
            class: "HardJob".into(),
            jid: "0123456789abcdef01234567".into(),
            bid: Some("b1".into()),
            tags: Some(vec!["a".into(), "b".into()]),
        };
        let at = UNIX_EPOCH + Duration::from_millis(1_795_860_012_261);
        let mut out = Vec::new();
        let start = job_line(at, "abc".into(), context.clone(), None, "start");
        let done = job_line(at, "abc".into(), context, Some(1.25), "done");
        format_line(&mut out, Layout::Pretty, 12, &start);
        format_line(&mut out, Layout::WithoutTimestamp, 12, &done);
        format_line(&mut out, Layout::Json, 12, &done);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-11-28T10:00:12.261Z pid=12 tid=abc class=HardJob jid=0123456789abcdef01234567 bid=b1 tags=a,b INFO: start\n\
             pid=12 tid=abc class=HardJob jid=0123456789abcdef01234567 bid=b1 tags=a,b elapsed=1.25 INFO: done\n\
             {\"ts\":\"2026-11-28T10:00:12.261Z\",\"pid\":12,\"tid\":\"abc\",\"lvl\":\"INFO\",\"msg\":\"done\",\"ctx\":{\"class\":\"HardJob\",\"jid\":\"0123456789abcdef01234567\",\"bid\":\"b1\",\"tags\":[\"a\",\"b\"],\"elapsed\":1.25}}\n"
        );
    }

    #[test]
    fn lines_after_close_are_dropped_and_reopen_switches_the_device() {
        let dir = std::env::temp_dir().join(format!("ferrokiq-log-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (first, second) = (dir.join("first.log"), dir.join("second.log"));
        let log =
            LogWriter::start(Box::new(File::create(&first).unwrap()), Layout::Pretty).unwrap();
        log.text(b"one\n".to_vec());
        log.reopen(File::create(&second).unwrap());
        log.text(b"two\n".to_vec());
        log.close();
        log.text(b"three\n".to_vec());
        log.relayout(Layout::Json);
        log.flush();
        assert_eq!(std::fs::read_to_string(&first).unwrap(), "one\n");
        assert_eq!(std::fs::read_to_string(&second).unwrap(), "two\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
