//! What the engine has to tell the Ruby side: log lines with a level, and failures that
//! Sidekiq would hand to `config.error_handlers`. Engine tasks cannot call Ruby, so they queue
//! events here and the launcher drains them about once a second.

use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub level: Level,
    /// The log line.
    pub message: String,
    /// Set for failures the error handlers must see.
    pub report: Option<Report>,
}

/// A failure as the error handlers get it: an exception with `error` as its message, and
/// `{ context: }` naming the part of the engine it happened in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub context: &'static str,
    pub error: String,
}

/// The queue of events not yet taken by the Ruby side.
#[derive(Default)]
pub(crate) struct Events {
    pending: Mutex<Vec<Event>>,
}

impl Events {
    pub(crate) fn info(&self, message: String) {
        self.push(Level::Info, message, None);
    }

    pub(crate) fn warn(&self, message: String) {
        self.push(Level::Warn, message, None);
    }

    /// A failure: `message` logged at ERROR, and `error` reported to the error handlers with
    /// `context`.
    pub(crate) fn failure(&self, context: &'static str, message: String, error: String) {
        self.push(Level::Error, message, Some(Report { context, error }));
    }

    fn push(&self, level: Level, message: String, report: Option<Report>) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Event {
                level,
                message,
                report,
            });
    }

    pub(crate) fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
