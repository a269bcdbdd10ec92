//! What the engine's tasks and the worker threads share: flags, counters, the capsules, the busy
//! threads, the jobs held, and events for Ruby.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::log_writer::JobContext;
use crate::server::capsule::Capsule;
use crate::server::events::Events;
use crate::server::execution_tally::ExecutionTally;
use crate::server::fetch::FetchedJob;
use crate::server::hand_off::ClaimedJob;
use crate::server::heartbeat;
use crate::server::inflight::Ledger;
use crate::server::memory_trim::MemoryTrim;
use crate::server::ops::health::Health;
use crate::server::taken::TakenSlots;

pub(crate) struct State {
    pub(crate) quiet: AtomicBool,
    /// Set once the engine has stopped: its background upkeep ends too.
    pub(crate) stopped: AtomicBool,
    /// Wakes the scheduler early (on quiet, or when the hand-off made room).
    pub(crate) scheduler_wake: Notify,
    /// Due jobs the scheduler claimed, on their way to Ruby's client middleware.
    pub(crate) hand_offs: HandOffs,
    /// The capsules, the default one first: each its queues, channel and prefetch.
    pub(crate) capsules: Vec<Arc<Capsule>>,
    pub(crate) processed: AtomicU64,
    pub(crate) failed: AtomicU64,
    /// Acknowledgements handed to the acknowledger and not yet written to Redis.
    pub(crate) acks_pending: AtomicU64,
    pub(crate) busy: Mutex<BTreeMap<String, Busy>>,
    /// Log lines and failures for the Ruby side.
    pub(crate) events: Events,
    /// The jobs of this process's working lists it is working on (reliable fetch).
    pub(crate) ledger: Ledger,
    /// Basic fetch: the entries this process holds in its taken lists (queue limits).
    pub(crate) taken: TakenSlots,
    /// Jobs taken with basic fetch that could not be put back when the process went quiet:
    /// they exist nowhere else, so the worker threads still run them.
    pub(crate) leftovers: Mutex<VecDeque<FetchedJob>>,
    /// Why the engine stopped working for good (a task that kept failing).
    failure: Mutex<Option<String>>,
    /// Execution metrics gathered since the last flush (metrics_flusher.rs).
    pub(crate) metrics: ExecutionTally,
    /// Set while metrics flushes fail, so that an outage is reported once.
    pub(crate) metrics_failing: AtomicBool,
    /// Ends the periodic metrics flush early when the engine stops.
    pub(crate) metrics_stop: Notify,
    /// Progress clocks and the last Redis round trip, for health checks (ops/health.rs).
    pub(crate) health: Health,
    /// Every queue this process has worked since it started, configured or dynamic: the
    /// queues it keeps working lists for. Dynamic queues stay here after they leave the
    /// `queues` set, so their lists are still asserted, swept and released.
    worked: Mutex<Vec<String>>,
    /// Gives the memory of a drained backlog back to the OS (memory_trim.rs).
    pub(crate) memory_trim: MemoryTrim,
}

/// A worker thread's current job: what the Web UI's busy page shows, when it started, and its
/// log context if the core logs it.
pub(crate) struct Busy {
    pub(crate) queue: String,
    pub(crate) payload: Vec<u8>,
    /// Epoch seconds, as Sidekiq's work records show it.
    pub(crate) run_at: i64,
    pub(crate) at: std::time::Instant,
    pub(crate) log: Option<JobContext>,
}

impl Busy {
    /// The `<identity>:work` value; built only when a heartbeat writes it, not per job.
    pub(crate) fn record(&self) -> String {
        heartbeat::work_json(&self.queue, &self.payload, self.run_at)
    }
}

/// The channel from the scheduler to the Ruby thread that runs the client middleware: bounded,
/// so the scheduler claims no more than the middleware keeps up with.
pub(crate) struct HandOffs {
    pub(crate) sender: Sender<ClaimedJob>,
    pub(crate) receiver: Receiver<ClaimedJob>,
    /// The scheduler found no room: the next job taken wakes it.
    pub(crate) waiting_for_room: AtomicBool,
}

impl HandOffs {
    /// How many claimed jobs may wait for Ruby.
    pub(crate) const CAPACITY: usize = 100;

    fn new() -> HandOffs {
        let (sender, receiver) = crossbeam_channel::bounded(Self::CAPACITY);
        HandOffs {
            sender,
            receiver,
            waiting_for_room: AtomicBool::new(false),
        }
    }
}

impl State {
    pub(crate) fn new(capsules: Vec<Arc<Capsule>>, worked: Vec<String>) -> State {
        State {
            quiet: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            scheduler_wake: Notify::new(),
            hand_offs: HandOffs::new(),
            capsules,
            processed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            acks_pending: AtomicU64::new(0),
            busy: Mutex::new(BTreeMap::new()),
            events: Events::default(),
            ledger: Ledger::default(),
            taken: TakenSlots::default(),
            leftovers: Mutex::new(VecDeque::new()),
            failure: Mutex::new(None),
            metrics: ExecutionTally::default(),
            metrics_failing: AtomicBool::new(false),
            metrics_stop: Notify::new(),
            health: Health::default(),
            worked: Mutex::new(worked),
            memory_trim: MemoryTrim::default(),
        }
    }

    /// The queues this process keeps working lists for (see `worked`).
    pub(crate) fn worked_queues(&self) -> Vec<String> {
        self.worked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Of `queues`, those not worked yet.
    pub(crate) fn not_worked(&self, queues: &[String]) -> Vec<String> {
        let worked = self.worked.lock().unwrap_or_else(|p| p.into_inner());
        queues
            .iter()
            .filter(|queue| !worked.contains(queue))
            .cloned()
            .collect()
    }

    pub(crate) fn add_worked(&self, queues: &[String]) {
        let mut worked = self.worked.lock().unwrap_or_else(|p| p.into_inner());
        for queue in queues {
            if !worked.contains(queue) {
                worked.push(queue.clone());
            }
        }
    }

    /// The engine cannot go on: fetching stops, and the launcher shuts the process down.
    pub(crate) fn fail(&self, why: String) {
        self.events.failure("engine", why.clone(), why.clone());
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(why);
        self.quiet.store(true, Ordering::SeqCst);
        self.wake_fetchers();
    }

    /// Every capsule's fetcher looks at the flags again (quiet, stop, failure).
    pub(crate) fn wake_fetchers(&self) {
        for capsule in &self.capsules {
            capsule.room.notify_one();
        }
    }

    /// The capsule whose threads ran a job of `queue` (the first that works it).
    pub(crate) fn capsule_of(&self, queue: &str) -> Option<&Arc<Capsule>> {
        self.capsules.iter().find(|capsule| capsule.works(queue))
    }

    pub(crate) fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
