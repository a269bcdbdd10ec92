//! How much of the time the worker threads keep a CPU busy: the admission's stand-in for how
//! busy the GVL is (docs/design.md, §3.1). Ruby 3.1 cannot say which threads wait for the GVL,
//! but only the GVL's holder runs Ruby code, so the worker threads' CPU time per wall-clock
//! time is close to the GVL's use: near 100% when their jobs compute, low when they wait on
//! I/O (then another thread can use the GVL).
//!
//! A thread that holds the GVL but waits for a CPU (the host's other processes, Redis, the
//! core's own threads on a small machine) uses no CPU time either, yet another thread could not
//! run Ruby meanwhile. Counted as idle, that wait let the admission start up to twenty threads
//! at `-c 25` on a busy 2-core host, each adding its own memory. So where Linux reports it
//! (`/proc/self/task/<tid>/schedstat`: CPU time, then time spent runnable on a run queue), the
//! wait counts as busy; elsewhere the thread's CPU clock alone is read, as before.
//!
//! Each worker thread registers on its first request for a job; the figure is refreshed at most
//! every [`WINDOW`] by whichever thread asks for it, so it costs two system calls per thread
//! and window (the clock and the file), not per job.

use std::cell::Cell;
use std::fs::File;
use std::os::unix::fs::FileExt;
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
    occupied_nanos: u64,
}

/// Where a worker thread's figures are read: its CPU clock (exact at any moment; the CPU
/// figure of `schedstat` only moves at the scheduler's ticks), and its `schedstat` file for the
/// run-queue wait, where one could be opened.
struct Meter {
    clock: libc::clockid_t,
    schedstat: Option<File>,
    /// The last run-queue wait read: kept when a read fails, so the total never goes back.
    waited: u64,
}

struct GvlLoad {
    /// One per worker thread.
    meters: Mutex<Vec<Meter>>,
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
        meters: Mutex::new(Vec::new()),
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
    if let Some(meter) = current_thread_meter() {
        load()
            .meters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(meter);
    }
}

fn current_thread_meter() -> Option<Meter> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: asks for the calling thread's own CPU clock into a local.
    if unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) } != 0 {
        return None;
    }
    // SAFETY: gettid takes no arguments and cannot fail.
    let tid = unsafe { libc::gettid() };
    let schedstat = File::open(format!("/proc/self/task/{tid}/schedstat"))
        .ok()
        .filter(|file| run_queue_nanos(file).is_some());
    Some(Meter {
        clock,
        schedstat,
        waited: 0,
    })
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
        let occupied_nanos = self.occupied_nanos();
        if let Some(previous) = last.as_ref() {
            let wall = now.saturating_duration_since(previous.at).as_nanos() as u64;
            let used = occupied_nanos.saturating_sub(previous.occupied_nanos);
            if let Some(busy) = used.saturating_mul(1000).checked_div(wall) {
                let busy = busy.min(1000) as u32;
                let smoothed = (self.busy_permille.load(Ordering::Relaxed) + busy) / 2;
                self.busy_permille.store(smoothed, Ordering::Relaxed);
            }
        }
        *last = Some(Sample {
            at: now,
            occupied_nanos,
        });
    }

    /// The registered threads' CPU time plus, where known, their time waiting for a CPU;
    /// threads that ended are dropped from the list. The clock is read first: in a forked
    /// child the parent's threads' clocks fail, so their `schedstat` files are never read there.
    fn occupied_nanos(&self) -> u64 {
        let mut meters = self.meters.lock().unwrap_or_else(|p| p.into_inner());
        let mut total = 0u64;
        meters.retain_mut(|meter| {
            let Some(cpu) = thread_cpu_nanos(meter.clock) else {
                return false; // the thread ended
            };
            if let Some(waited) = meter.schedstat.as_ref().and_then(run_queue_nanos) {
                meter.waited = waited;
            }
            total += cpu + meter.waited;
            true
        });
        total
    }
}

/// The second figure of a `schedstat` file: nanoseconds spent runnable on a run queue. The
/// scheduler adds each wait when the thread gets a CPU again, so a wait still going on shows
/// once it ends.
fn run_queue_nanos(file: &File) -> Option<u64> {
    let mut buffer = [0u8; 96];
    let length = file.read_at(&mut buffer, 0).ok()?;
    let text = std::str::from_utf8(buffer.get(..length)?).ok()?;
    text.split_ascii_whitespace().nth(1)?.parse().ok()
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

    /// The figure is the process's: tests that register threads must not overlap.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn a_computing_thread_reads_as_busy_and_a_sleeping_one_as_idle() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
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

    /// Pins the calling thread to the first CPU the process may use.
    fn pin_to_first_cpu() {
        // SAFETY: the sets are locals; sched_getaffinity fills one, CPU_ISSET and CPU_SET
        // read and write within its bounds, and sched_setaffinity reads the other.
        unsafe {
            let size = std::mem::size_of::<libc::cpu_set_t>();
            let mut allowed: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(libc::sched_getaffinity(0, size, &mut allowed), 0);
            let first = (0..libc::CPU_SETSIZE as usize)
                .find(|&cpu| libc::CPU_ISSET(cpu, &allowed))
                .expect("a CPU to run on");
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(first, &mut set);
            assert_eq!(
                libc::sched_setaffinity(0, size, &set),
                0,
                "pinning to CPU {first}"
            );
        }
    }

    #[test]
    fn time_spent_waiting_for_a_cpu_counts_as_busy() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        if current_thread_meter()
            .and_then(|meter| meter.schedstat)
            .is_none()
        {
            return; // no schedstat here: the CPU clock alone is read, as the test above checks
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Unregistered, on the same CPU: the measured thread waits for the CPU about half the
        // time, as a GVL holder does behind the host's other work.
        let rival = {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                pin_to_first_cpu();
                let mut spin = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    spin = spin.wrapping_add(1);
                }
                std::hint::black_box(spin);
            })
        };
        let (occupied_share, cpu_share) = std::thread::spawn(|| {
            pin_to_first_cpu();
            let clock = current_thread_meter().expect("a meter").clock;
            register_current_thread();
            let cpu_before = thread_cpu_nanos(clock).expect("a reading");
            let occupied_before = load().occupied_nanos();
            let started = Instant::now();
            while started.elapsed() < Duration::from_millis(300) {
                busy_permille(Instant::now());
            }
            // Read while this thread holds the CPU, so that every wait has been added.
            let occupied = load().occupied_nanos().saturating_sub(occupied_before);
            let cpu = thread_cpu_nanos(clock).expect("a reading") - cpu_before;
            let wall = started.elapsed().as_nanos() as u64;
            (occupied * 1000 / wall, cpu * 1000 / wall)
        })
        .join()
        .expect("the measured thread");
        stop.store(true, Ordering::Relaxed);
        rival.join().expect("the rival thread");
        // The thread had part of the CPU, and was runnable all the time: what the figure is made
        // of counts both, so it stands above the CPU share alone. (Read over the whole run, not
        // as the smoothed figure of the last few windows, which a moment of the host's steal
        // time, counted as neither, could pull down at the end.)
        assert!(cpu_share < 900, "the rival took no CPU: share {cpu_share}");
        assert!(
            occupied_share > cpu_share + 200,
            "occupied {occupied_share}, CPU share {cpu_share}"
        );
    }
}
