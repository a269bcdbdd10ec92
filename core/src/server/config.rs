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
    /// The default capsule's threads and queues ((name, weight) pairs).
    pub concurrency: usize,
    pub queues: Vec<(String, u32)>,
    /// The capsules declared besides the default one (`config.capsule(name)`), each with its
    /// own fetcher and hand-off to its own worker threads (docs/design.md, §19).
    pub capsules: Vec<CapsuleConfig>,
    pub fetch: FetchMode,
    /// `:dynamic:` (docs/design.md, §23): the default capsule also works every queue of the
    /// `queues` set that no capsule is configured with, except these. None: off.
    pub dynamic: Option<Vec<String>>,
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
    /// The default job options (`Sidekiq.default_job_options`) the scheduler pushes due jobs
    /// and periodic ticks with; None: Sidekiq's stock ones.
    pub scheduler_defaults: Option<serde_json::Map<String, serde_json::Value>>,
    /// Client middleware must see due jobs re-pushed: the scheduler claims them and hands them
    /// to Ruby (`Engine::next_hand_off`) rather than pushing them (docs/design.md, §5.2).
    pub scheduler_hand_off: bool,
}

/// One capsule: a set of queues worked by a fixed number of threads of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapsuleConfig {
    pub name: String,
    pub concurrency: usize,
    /// (name, weight) pairs; all weights 0 means strict order.
    pub queues: Vec<(String, u32)>,
}

impl CapsuleConfig {
    pub fn queue_list(&self) -> QueueList {
        QueueList::new(&self.queues)
    }
}

/// The name Sidekiq 7 gives the capsule that `concurrency` and `queues` configure.
pub const DEFAULT_CAPSULE: &str = "default";

impl ServerConfig {
    /// The default capsule's queues.
    pub fn queue_list(&self) -> QueueList {
        QueueList::new(&self.queues)
    }

    /// Every capsule, the default one first: the order of the engine's hand-offs, so capsule
    /// index 0 is always the default one.
    pub fn all_capsules(&self) -> Vec<CapsuleConfig> {
        let default = CapsuleConfig {
            name: DEFAULT_CAPSULE.to_string(),
            concurrency: self.concurrency,
            queues: self.queues.clone(),
        };
        std::iter::once(default)
            .chain(self.capsules.iter().cloned())
            .collect()
    }

    /// Threads in all capsules together: the process's concurrency as Sidekiq 7 reports it.
    pub fn total_concurrency(&self) -> usize {
        self.concurrency + self.capsules.iter().map(|c| c.concurrency).sum::<usize>()
    }

    /// Every queue any capsule works, each once, in configuration order (capsule by capsule):
    /// the queues this process keeps working lists for.
    pub fn queue_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for capsule in self.all_capsules() {
            for name in capsule.queue_list().names() {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        names
    }
}
