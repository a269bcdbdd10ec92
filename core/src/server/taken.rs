//! Basic fetch under queue limits (docs/design.md, §23): a job of a limited queue is counted in
//! this process's taken list for that queue (`keys::taken`) from the batch that took it until
//! it is acknowledged, requeued or abandoned, so every process's fetch sees it against the
//! limit as it sees a reliable-fetch job in a working list. The engine keeps how many entries
//! it holds per queue, and each job of that queue that ends gives one back.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::server::fetch::FetchedJob;

/// How many entries of each taken list this process holds.
#[derive(Default)]
pub(crate) struct TakenSlots {
    held: Mutex<HashMap<String, u64>>,
    /// Whether any entry is held: without limits, a job's end costs one atomic load.
    any: AtomicBool,
}

impl TakenSlots {
    pub(crate) fn hold(&self, counted: &BTreeMap<String, u64>) {
        if counted.is_empty() {
            return;
        }
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        for (queue, count) in counted {
            *held.entry(queue.clone()).or_insert(0) += count;
        }
        self.any.store(true, Ordering::SeqCst);
    }

    /// A job of `queue` ended: whether it gives back an entry. (A job taken before the queue
    /// had a limit gives back one of a later job's if any is held: the count stays right once
    /// both have ended.)
    pub(crate) fn release(&self, queue: &str) -> bool {
        if !self.any.load(Ordering::SeqCst) {
            return false;
        }
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let released = match held.get_mut(queue) {
            Some(count) if *count > 1 => {
                *count -= 1;
                true
            }
            Some(_) => {
                held.remove(queue);
                true
            }
            None => false,
        };
        self.any.store(!held.is_empty(), Ordering::SeqCst);
        released
    }

    /// `release` for each job; the entries to give back, by queue.
    pub(crate) fn release_all(&self, jobs: &[FetchedJob]) -> BTreeMap<String, u64> {
        let mut released = BTreeMap::new();
        for job in jobs {
            if self.release(&job.queue) {
                *released.entry(job.queue.clone()).or_insert(0) += 1;
            }
        }
        released
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_back_only_what_it_holds() {
        let slots = TakenSlots::default();
        slots.hold(&BTreeMap::from([("bulk".to_string(), 2)]));
        let job = |queue: &str| FetchedJob {
            queue: queue.into(),
            payload: b"{}".to_vec(),
        };
        let released = slots.release_all(&[job("bulk"), job("default"), job("bulk"), job("bulk")]);
        assert_eq!(released, BTreeMap::from([("bulk".to_string(), 2)]));
        assert!(!slots.release("bulk"));
    }
}
