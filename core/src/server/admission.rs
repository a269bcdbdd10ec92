//! When an idle worker thread of a capsule may take a job (docs/design.md, §3.1).
//!
//! Ruby runs one thread at a time. When ten threads each hold a job, every GVL release inside a
//! job (a log write, a socket read) hands the GVL to another thread: a context switch and a
//! cold cache per job, which made `-c 10` drain short jobs more slowly than `-c 1`. So a thread
//! that finishes a job keeps taking the next one while the channel has jobs, and an idle thread
//! starts only when it can be of use:
//!
//! - no thread of the capsule holds a job;
//! - the worker threads leave the GVL idle part of the time ([`gvl_load`] below
//!   [`ADMIT_BELOW`]): their jobs wait on I/O, and another thread can run meanwhile;
//! - no job finished for [`NO_PROGRESS`]: a long job must not hold up the queue behind it.
//!
//! And a thread that finished a job goes idle rather than take the next one when other threads
//! finished jobs meanwhile and the GVL is busy ([`STEP_DOWN_FROM`]): the threads only take
//! turns on it. One idle thread (the watcher) keeps the watch, looking every [`TICK`] (less
//! often while nothing changes); the others wait for the watch to be handed to them, so idle
//! threads cost one wake-up per tick, not one per thread. Jobs that wait on I/O bring in the
//! full concurrency within a few ticks; jobs that compute run on as few threads as keep the GVL
//! busy.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::server::gvl_load;

/// How often the watcher looks at first. While nothing changes it looks half as often each
/// time, down to once every LONGEST_TICK: each look is a wake-up, and reading the worker
/// threads' CPU clocks is a system call per thread, which on a capsule of computing jobs cost
/// more than the look could gain.
pub(crate) const TICK: Duration = Duration::from_millis(1);
pub(crate) const LONGEST_TICK: Duration = Duration::from_millis(8);
/// Another thread starts when the workers keep the GVL busy less than this (thousandths).
const ADMIT_BELOW: u32 = 700;
/// A thread steps down when the workers keep the GVL busy at least this much (thousandths).
/// Above ADMIT_BELOW, so that a thread let in is not sent away at once.
const STEP_DOWN_FROM: u32 = 900;
/// Another thread starts when no job finished for this long, however busy the GVL.
pub(crate) const NO_PROGRESS: Duration = Duration::from_millis(20);

/// What a thread holding a job remembers: its capsule, and the capsule's finished count when
/// it took the job.
#[derive(Clone, Copy)]
struct Held {
    capsule: usize,
    finished_before: u64,
}

thread_local! {
    /// The job this thread holds (it took one and has not come back for the next).
    static HOLDING: Cell<Option<Held>> = const { Cell::new(None) };
}

/// What `came_back` found: whether the thread held a job of the capsule, and how many jobs
/// other threads finished while it ran.
#[derive(Clone, Copy, Default)]
pub(crate) struct Return {
    pub(crate) was_running: bool,
    finished_by_others: u64,
}

pub(crate) struct Admission {
    /// Threads holding a job.
    running: AtomicUsize,
    /// Jobs finished (a thread came back for its next one): the watcher's sign of progress.
    finished: AtomicU64,
    /// Whether an idle thread is watching.
    watched: AtomicBool,
    /// Wakes one idle thread to take over the watch.
    baton: (Sender<()>, Receiver<()>),
    /// Wakes the watcher when the last running thread went idle, so the next job starts at
    /// once rather than after a stall.
    went_idle: (Sender<()>, Receiver<()>),
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            running: AtomicUsize::new(0),
            finished: AtomicU64::new(0),
            watched: AtomicBool::new(false),
            baton: crossbeam_channel::bounded(1),
            went_idle: crossbeam_channel::bounded(1),
        }
    }
}

impl Admission {
    /// Called by a thread asking for a job of capsule `index`. A job it held counts as
    /// finished now; it holds nothing until [`Admission::entered`].
    pub(crate) fn came_back(&self, index: usize) -> Return {
        gvl_load::register_current_thread();
        match HOLDING.with(Cell::take) {
            Some(held) if held.capsule == index => {
                let finished = self.finished.fetch_add(1, Ordering::Relaxed);
                Return {
                    was_running: true,
                    finished_by_others: finished.saturating_sub(held.finished_before),
                }
            }
            _ => Return::default(),
        }
    }

    /// Whether a thread back from a job should go idle rather than take the next one: other
    /// threads finished jobs while it ran and the GVL is busy, so they only take turns on it.
    pub(crate) fn should_step_down(&self, back: Return) -> bool {
        // The clock is read only past the cheap tests: this runs for every job.
        back.was_running
            && back.finished_by_others > 0
            && self.running() > 1
            && gvl_load::busy_permille(Instant::now()) >= STEP_DOWN_FROM
    }

    /// Whether the watcher may take a job now; `progress_at` is when it last saw a job
    /// finish.
    pub(crate) fn may_admit(&self, now: Instant, progress_at: Instant) -> bool {
        self.running() == 0
            || now.saturating_duration_since(progress_at) >= NO_PROGRESS
            || gvl_load::busy_permille(now) < ADMIT_BELOW
    }

    /// The thread took a job of capsule `index`; `back` is what `came_back` said.
    pub(crate) fn entered(&self, index: usize, back: Return) {
        if !back.was_running {
            self.running.fetch_add(1, Ordering::SeqCst);
        }
        let held = Held {
            capsule: index,
            finished_before: self.finished.load(Ordering::Relaxed),
        };
        HOLDING.with(|holding| holding.set(Some(held)));
    }

    /// The thread goes idle; `back` is what `came_back` said.
    pub(crate) fn left(&self, back: Return) {
        if back.was_running && self.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            let _ = self.went_idle.0.try_send(());
        }
    }

    /// The calling thread is ending (its Ruby thread returned, or was killed in a job): a job
    /// it still held stops counting as running. Otherwise the count would stay one too high
    /// for the process's life: the capsule would never look idle again, and each idle thread
    /// would wait out NO_PROGRESS before it may start.
    pub(crate) fn thread_ended(&self, index: usize) {
        let was_running = matches!(HOLDING.with(Cell::take), Some(held) if held.capsule == index);
        self.left(Return {
            was_running,
            finished_by_others: 0,
        });
    }

    pub(crate) fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    pub(crate) fn finished(&self) -> u64 {
        self.finished.load(Ordering::Relaxed)
    }

    /// Becomes the watcher if nobody is.
    pub(crate) fn take_watch(&self) -> bool {
        self.watched
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// The watcher leaves (it took a job, or its wait ended): another idle thread takes over.
    pub(crate) fn pass_watch(&self) {
        self.watched.store(false, Ordering::SeqCst);
        let _ = self.baton.0.try_send(());
    }

    /// Fires when the watch may be free (see `pass_watch`).
    pub(crate) fn baton(&self) -> &Receiver<()> {
        &self.baton.1
    }

    /// Fires when the last running thread went idle.
    pub(crate) fn idle_signal(&self) -> &Receiver<()> {
        &self.went_idle.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_counts_as_running_from_its_job_to_its_next_request() {
        let admission = Admission::default();
        let back = admission.came_back(0);
        assert!(!back.was_running);
        admission.entered(0, back);
        assert_eq!(admission.running(), 1);

        // Back for the next job, which it finds: still one running, one job finished.
        let back = admission.came_back(0);
        assert!(back.was_running);
        admission.entered(0, back);
        assert_eq!((admission.running(), admission.finished()), (1, 1));

        // Back again, the channel is empty: idle, and the watcher is told.
        let back = admission.came_back(0);
        admission.left(back);
        assert_eq!((admission.running(), admission.finished()), (0, 2));
        assert!(admission.idle_signal().try_recv().is_ok());
    }

    #[test]
    fn a_thread_that_ends_holding_a_job_no_longer_counts_as_running() {
        let admission = Admission::default();
        admission.entered(0, admission.came_back(0));
        let other = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    admission.entered(0, admission.came_back(0));
                    admission.thread_ended(0);
                    admission.running()
                })
                .join()
        });
        assert_eq!(other.ok(), Some(1), "only the first thread still runs");
        admission.thread_ended(0);
        assert_eq!((admission.running(), admission.finished()), (0, 0));
        assert!(admission.idle_signal().try_recv().is_ok());
        // A second call (an ensure that runs twice) finds nothing held.
        admission.thread_ended(0);
        assert_eq!(admission.running(), 0);
    }

    #[test]
    fn a_thread_that_held_nothing_changes_no_count() {
        let admission = Admission::default();
        let back = admission.came_back(0);
        admission.left(back);
        assert_eq!((admission.running(), admission.finished()), (0, 0));
        assert!(admission.idle_signal().try_recv().is_err());
    }

    #[test]
    fn another_capsules_job_is_not_this_ones() {
        let admission = Admission::default();
        admission.entered(1, Return::default());
        assert!(!admission.came_back(0).was_running);
        assert_eq!(admission.finished(), 0);
    }

    #[test]
    fn a_thread_learns_how_many_jobs_others_finished_during_its_own() {
        let admission = Admission::default();
        // Alone: its own job is the only one that finished.
        admission.entered(0, admission.came_back(0));
        let back = admission.came_back(0);
        assert_eq!(back.finished_by_others, 0);
        assert!(!admission.should_step_down(back));
        admission.entered(0, back);

        // Two other jobs finished (on other threads) while this one ran.
        admission.running.fetch_add(1, Ordering::SeqCst);
        admission.finished.fetch_add(2, Ordering::Relaxed);
        let back = admission.came_back(0);
        assert_eq!(back.finished_by_others, 2);
    }

    #[test]
    fn the_first_thread_is_always_admitted_and_a_stalled_capsule_admits_more() {
        let admission = Admission::default();
        let now = Instant::now();
        assert!(admission.may_admit(now, now));
        admission.entered(0, Return::default());
        assert!(admission.may_admit(now + NO_PROGRESS, now));
    }

    #[test]
    fn one_watcher_at_a_time_and_the_baton_wakes_the_next() {
        let admission = Admission::default();
        assert!(admission.take_watch());
        assert!(!admission.take_watch());
        admission.pass_watch();
        assert!(admission.baton().try_recv().is_ok());
        assert!(admission.take_watch());
    }
}
