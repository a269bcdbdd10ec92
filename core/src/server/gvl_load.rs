//! How much of the time the worker threads keep a CPU busy: the admission's stand-in for how
//! busy the GVL is (docs/design.md, §3.1). Ruby 3.1 cannot say which threads wait for the GVL,
//! but only the GVL's holder runs Ruby code, so the worker threads' CPU time per wall-clock
//! time is close to the GVL's use: near 100% when their jobs compute, low when they wait on
//! I/O (then another thread can use the GVL).
//!
//! Each worker thread registers its CPU clock on its first request for a job; the figure is
//! refreshed at most every [`WINDOW`] by whichever thread asks for it, so it costs a system
//! call per thread and window, not per job.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How often the figure is refreshed. Each refresh averages with the one before, so it
/// follows a change within a few windows.
const WINDOW: Duration = Duration::from_millis(2);

thread_local! {
    static REGISTERED: Cell<bool> = const { Cell::new(false) };
}

struct Sample {
    at: Instant,
    cpu_nanos: u64,
}

struct GvlLoad {
    /// The worker threads' CPU clocks.
    clocks: Mutex<Vec<libc::clockid_t>>,
    last: Mutex<Option<Sample>>,
    /// Busy share in thousandths, smoothed.
    busy_permille: AtomicU32,
    /// When the next refresh is due, in nanoseconds after `epoch`.
    due_nanos: AtomicU64,
    epoch: Instant,
}

fn load() -> &'static GvlLoad {
    static LOAD: OnceLock<GvlLoad> = OnceLock::new();
    LOAD.get_or_init(|| GvlLoad {
        clocks: Mutex::new(Vec::new()),
        last: Mutex::new(None),
        busy_permille: AtomicU32::new(0),
        due_nanos: AtomicU64::new(0),
        epoch: Instant::now(),
    })
}

/// Counts the calling thread as a worker thread (once per thread).
pub(crate) fn register_current_thread() {
    if REGISTERED.with(|registered| registered.replace(true)) {
        return;
    }
    let mut clock: libc::clockid_t = 0;
    // SAFETY: asks for the calling thread's own CPU clock into a local.
    if unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) } == 0 {
        load()
            .clocks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(clock);
    }
}

/// The worker threads' busy share in thousandths, refreshed first when a window has passed.
pub(crate) fn busy_permille(now: Instant) -> u32 {
    let load = load();
    let at = now.saturating_duration_since(load.epoch).as_nanos() as u64;
    if at >= load.due_nanos.load(Ordering::Relaxed) {
        load.refresh(now, at);
    }
    load.busy_permille.load(Ordering::Relaxed)
}

impl GvlLoad {
    fn refresh(&self, now: Instant, at: u64) {
        // One thread refreshes; the others read the figure as it stands.
        let Ok(mut last) = self.last.try_lock() else {
            return;
        };
        self.due_nanos
            .store(at + WINDOW.as_nanos() as u64, Ordering::Relaxed);
        let cpu_nanos = self.cpu_nanos();
        if let Some(previous) = last.as_ref() {
            let wall = now.saturating_duration_since(previous.at).as_nanos() as u64;
            let used = cpu_nanos.saturating_sub(previous.cpu_nanos);
            if let Some(busy) = used.saturating_mul(1000).checked_div(wall) {
                let busy = busy.min(1000) as u32;
                let smoothed = (self.busy_permille.load(Ordering::Relaxed) + busy) / 2;
                self.busy_permille.store(smoothed, Ordering::Relaxed);
            }
        }
        *last = Some(Sample { at: now, cpu_nanos });
    }

    /// The registered threads' CPU time; threads that ended are dropped from the list.
    fn cpu_nanos(&self) -> u64 {
        let mut clocks = self.clocks.lock().unwrap_or_else(|p| p.into_inner());
        let mut total = 0u64;
        clocks.retain(|clock| match thread_cpu_nanos(*clock) {
            Some(nanos) => {
                total += nanos;
                true
            }
            None => false,
        });
        total
    }
}

fn thread_cpu_nanos(clock: libc::clockid_t) -> Option<u64> {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: reads a thread CPU clock into a local; an ended thread's clock fails with EINVAL.
    if unsafe { libc::clock_gettime(clock, &mut time) } != 0 {
        return None;
    }
    Some(time.tv_sec as u64 * 1_000_000_000 + time.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_computing_thread_reads_as_busy_and_a_sleeping_one_as_idle() {
        let busy = std::thread::spawn(|| {
            register_current_thread();
            let started = Instant::now();
            let mut figure = 0;
            let mut spin = 0u64;
            while started.elapsed() < Duration::from_millis(60) {
                spin = spin.wrapping_add(1);
                figure = busy_permille(Instant::now());
            }
            std::hint::black_box(spin);
            figure
        })
        .join()
        .expect("the computing thread");

        let idle = std::thread::spawn(|| {
            register_current_thread();
            let mut figure = 1000;
            for _ in 0..30 {
                std::thread::sleep(Duration::from_millis(2));
                figure = busy_permille(Instant::now());
            }
            figure
        })
        .join()
        .expect("the sleeping thread");
        // Relative, not a threshold on the machine's speed: the spinning thread had what CPU
        // the machine gave it; the sleeping one used next to none.
        assert!(idle < 200, "idle {idle}");
        assert!(busy > idle, "busy {busy}, idle {idle}");
    }
}
