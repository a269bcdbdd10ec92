//! What a server process is: its identity and the settings the engine acts on.

use std::time::Duration;

use crate::queues::QueueList;

/// How jobs are taken from their queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchMode {
    /// Each fetched job stays in a per-process working list in Redis until acknowledged; a
    /// process that dies leaves it there for another process to re-queue.
    Reliable,
    /// Sidekiq's BRPOP: a job is removed at fetch time (lost if the process is killed).
    Basic,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `hostname:pid:nonce`, as Sidekiq names processes.
    pub identity: String,
    pub hostname: String,
    pub pid: u32,
    pub tag: String,
    pub labels: Vec<String>,
    pub concurrency: usize,
    pub queues: Vec<(String, u32)>,
    pub fetch: FetchMode,
    /// The `version` shown in the process info (the Sidekiq API level).
    pub version: String,
    /// Runs inside another application (`Sidekiq.configure_embed`): the `embedded` flag of the
    /// process info, which tells the Web UI and API not to send it quiet or stop.
    pub embedded: bool,
    pub started_at: f64,
    /// How long a job may sit in this process's working lists with no thread working on it
    /// before the sweep puts it back on its queue (`stranded_after`).
    pub stranded_after: Duration,
    pub dead_max_jobs: u64,
    pub dead_timeout: Duration,
    /// When set, the engine moves due scheduled and retry jobs itself, pushing them with these
    /// default job options (`Sidekiq.default_job_options`); only possible when no client
    /// middleware needs to see the re-push.
    pub scheduler_defaults: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ServerConfig {
    pub fn queue_list(&self) -> QueueList {
        QueueList::new(&self.queues)
    }
}
