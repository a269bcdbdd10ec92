//! Which jobs of this process's working lists it is still working on, and the sweep that
//! puts back the others (docs/design.md, §4).
//!
//! A working-list entry is normally accounted for: waiting in the channel, running, or
//! finished and awaiting its acknowledgement. An entry can also be there for nobody: the
//! reply of the fetch that moved it was lost (Redis hung or restarted), or its job ended
//! without being acknowledged (the failure could not be stored, the thread was killed, a
//! requeue failed). Nothing in a live process would ever run such a job, so each process
//! compares its lists with its ledger periodically and re-queues what has been unaccounted
//! for at two looks at least `stranded_after` apart.
//!
//! The ledger keeps counts by a hash of (queue, payload), not the payloads: it costs two hash
//! computations per job off the worker threads. A collision can only make the sweep leave an
//! entry alone, never take one that is in use.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::server::fetch::FetchedJob;

fn fingerprint(queue: &str, payload: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    queue.hash(&mut hasher);
    payload.hash(&mut hasher);
    hasher.finish()
}

/// Counts of the jobs this process holds, by fingerprint.
#[derive(Default)]
pub(crate) struct Ledger {
    counts: Mutex<HashMap<u64, u32>>,
}

impl Ledger {
    pub(crate) fn hold<'a>(&self, jobs: impl IntoIterator<Item = &'a FetchedJob>) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for job in jobs {
            *counts
                .entry(fingerprint(&job.queue, &job.payload))
                .or_insert(0) += 1;
        }
    }

    /// The jobs are no longer this process's concern: acknowledged, requeued, or given up on
    /// (left in the working list for the sweep).
    pub(crate) fn release<'a>(&self, jobs: impl IntoIterator<Item = &'a FetchedJob>) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for job in jobs {
            let key = fingerprint(&job.queue, &job.payload);
            if let Some(count) = counts.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(&key);
                }
            }
        }
    }

    fn held(&self, key: u64) -> u32 {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .copied()
            .unwrap_or(0)
    }
}

/// The sweep's memory between looks: unaccounted entries and when each was first seen.
#[derive(Default)]
pub(crate) struct Sweep {
    first_seen: HashMap<u64, Instant>,
}

impl Sweep {
    /// Given one queue's working list as it is now, returns the entries that have been
    /// unaccounted for since at least `bound` ago (each as often as it is in excess).
    pub(crate) fn stranded(
        &mut self,
        queue: &str,
        list: Vec<Vec<u8>>,
        ledger: &Ledger,
        bound: Duration,
        now: Instant,
        seen_now: &mut HashMap<u64, Instant>,
    ) -> Vec<FetchedJob> {
        let mut in_list: HashMap<u64, (u32, Vec<u8>)> = HashMap::new();
        for payload in list {
            let entry = in_list
                .entry(fingerprint(queue, &payload))
                .or_insert((0, Vec::new()));
            entry.0 += 1;
            entry.1 = payload;
        }
        let mut stranded = Vec::new();
        for (key, (count, payload)) in in_list {
            let excess = count.saturating_sub(ledger.held(key));
            if excess == 0 {
                continue;
            }
            let since = *self.first_seen.get(&key).unwrap_or(&now);
            seen_now.insert(key, since);
            if now.duration_since(since) >= bound {
                for _ in 0..excess {
                    stranded.push(FetchedJob {
                        queue: queue.to_string(),
                        payload: payload.clone(),
                    });
                }
            }
        }
        stranded
    }

    /// Ends a look over every list: entries not seen unaccounted this time are forgotten.
    pub(crate) fn finish(&mut self, seen_now: HashMap<u64, Instant>) {
        self.first_seen = seen_now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(payload: &str) -> FetchedJob {
        FetchedJob {
            queue: "default".into(),
            payload: payload.as_bytes().to_vec(),
        }
    }

    fn look(sweep: &mut Sweep, ledger: &Ledger, list: &[&str], at: Instant) -> Vec<String> {
        let mut seen = HashMap::new();
        let list = list.iter().map(|p| p.as_bytes().to_vec()).collect();
        let out = sweep.stranded(
            "default",
            list,
            ledger,
            Duration::from_secs(10),
            at,
            &mut seen,
        );
        sweep.finish(seen);
        let mut out: Vec<String> = out
            .into_iter()
            .map(|j| String::from_utf8(j.payload).unwrap())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn takes_only_what_stayed_unaccounted_for_the_whole_bound() {
        let (ledger, mut sweep) = (Ledger::default(), Sweep::default());
        let start = Instant::now();
        ledger.hold([&job("held")]);
        assert!(look(&mut sweep, &ledger, &["held", "lost"], start).is_empty());
        let later = start + Duration::from_secs(5);
        assert!(look(&mut sweep, &ledger, &["held", "lost"], later).is_empty());
        let due = start + Duration::from_secs(10);
        assert_eq!(look(&mut sweep, &ledger, &["held", "lost"], due), ["lost"]);
    }

    #[test]
    fn an_entry_accounted_for_in_between_starts_over() {
        let (ledger, mut sweep) = (Ledger::default(), Sweep::default());
        let start = Instant::now();
        assert!(look(&mut sweep, &ledger, &["late"], start).is_empty());
        ledger.hold([&job("late")]);
        assert!(look(
            &mut sweep,
            &ledger,
            &["late"],
            start + Duration::from_secs(5)
        )
        .is_empty());
        ledger.release([&job("late")]);
        let at = start + Duration::from_secs(11);
        assert!(look(&mut sweep, &ledger, &["late"], at).is_empty());
        let due = start + Duration::from_secs(21);
        assert_eq!(look(&mut sweep, &ledger, &["late"], due), ["late"]);
    }

    #[test]
    fn counts_duplicates_of_one_payload() {
        let (ledger, mut sweep) = (Ledger::default(), Sweep::default());
        let start = Instant::now();
        ledger.hold([&job("twin")]);
        look(&mut sweep, &ledger, &["twin", "twin", "twin"], start);
        let due = start + Duration::from_secs(10);
        let out = look(&mut sweep, &ledger, &["twin", "twin", "twin"], due);
        assert_eq!(out, ["twin", "twin"]);
    }
}
