//! `Ferrokiq::Native::IterationClock`: the per-item bookkeeping of an iterable job
//! (`docs/design.md`, §20). An iterable job may walk millions of items, so what it does for each
//! one must cost next to nothing: `tick` counts the item, reads the kernel's coarse monotonic
//! clock (a vDSO read, no syscall) and answers whether a checkpoint is due. Only at a
//! checkpoint, ten times a second at most, does Ruby look at interruption, the runtime limit,
//! the state flush and cancellation (the last two in one Redis round trip).
//!
//! One clock belongs to one job run on one Ruby thread. Its fields are atomics anyway
//! (`docs/rust-ruby.md` §4: wrapped state is `Sync`), used with relaxed loads and stores, which
//! cost what plain integers do.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use magnus::rb_sys::{AsRawValue, FromRawValue};
use magnus::typed_data::DataType;
use magnus::{prelude::*, Error, RModule, Ruby, TypedData, Value};
use rb_sys::special_consts::{Qfalse, Qtrue};
use rb_sys::{rb_check_typeddata, rb_data_type_t, VALUE};

use crate::errors;

const NANOS: f64 = 1e9;

#[magnus::wrap(class = "Ferrokiq::Native::IterationClock", free_immediately, size)]
pub struct IterationClock {
    /// When this run started iterating (precise clock: runtime and its limit).
    started: Instant,
    /// The coarse clock's reading at the last tick, and the next checkpoint on that clock.
    last_tick: AtomicU64,
    next_checkpoint: AtomicU64,
    /// The longest time between two ticks (one item's work plus fetching the next) since it was
    /// last taken, on the coarse clock.
    longest_gap: AtomicU64,
    /// Items ticked so far.
    iterations: AtomicU64,
    /// Nanoseconds since `started` at the last state flush.
    flushed_at: AtomicU64,
    checkpoint_every: u64,
    flush_every: u64,
    runtime_limit: Option<u64>,
}

impl IterationClock {
    /// `IterationClock.new(checkpoint_every, flush_every, runtime_limit)`, in seconds;
    /// `runtime_limit` nil for none.
    fn new(
        ruby: &Ruby,
        checkpoint_every: f64,
        flush_every: f64,
        runtime_limit: Option<f64>,
    ) -> Result<Self, Error> {
        let now = coarse_nanos();
        Ok(IterationClock {
            started: Instant::now(),
            last_tick: AtomicU64::new(now),
            next_checkpoint: AtomicU64::new(now),
            longest_gap: AtomicU64::new(0),
            iterations: AtomicU64::new(0),
            flushed_at: AtomicU64::new(0),
            checkpoint_every: nanos(ruby, "checkpoint interval", checkpoint_every)?,
            flush_every: nanos(ruby, "flush interval", flush_every)?,
            runtime_limit: runtime_limit
                .map(|limit| nanos(ruby, "max_iteration_runtime", limit))
                .transpose()?,
        })
    }

    /// Counts one item; true when a checkpoint is due (always for the first item, so a job
    /// that starts during a shutdown stops before doing anything). A slow item makes the next
    /// tick a checkpoint too, since its gap exceeds the interval.
    fn tick(&self) -> bool {
        let now = coarse_nanos();
        self.iterations
            .store(self.iterations.load(Relaxed) + 1, Relaxed);
        self.note_gap(now);
        if now < self.next_checkpoint.load(Relaxed) {
            return false;
        }
        self.next_checkpoint
            .store(now.saturating_add(self.checkpoint_every), Relaxed);
        true
    }

    /// Keeps the longest gap between ticks. Plain loads and stores rather than read-modify-write
    /// instructions (`fetch_add`, `fetch_max`), which cost several times more: only the job's
    /// own thread ever ticks.
    fn note_gap(&self, now: u64) {
        let gap = now.saturating_sub(self.last_tick.load(Relaxed));
        self.last_tick.store(now, Relaxed);
        if gap > self.longest_gap.load(Relaxed) {
            self.longest_gap.store(gap, Relaxed);
        }
    }

    /// Whether the state was last written `flush_every` or longer ago.
    fn is_flush_due(&self) -> bool {
        self.elapsed_nanos()
            .saturating_sub(self.flushed_at.load(Relaxed))
            >= self.flush_every
    }

    /// Notes that the state was just written.
    fn flushed(&self) {
        self.flushed_at.store(self.elapsed_nanos(), Relaxed);
    }

    /// Whether this run has iterated past its runtime limit.
    fn is_over_limit(&self) -> bool {
        self.runtime_limit
            .is_some_and(|limit| self.elapsed_nanos() > limit)
    }

    /// The longest gap between ticks since the last call, in seconds; starts afresh.
    fn take_longest_gap(&self) -> f64 {
        let gap = self.longest_gap.swap(0, Relaxed);
        gap as f64 / NANOS
    }

    /// The gap from the last tick until now (the last item, which no tick follows), counted
    /// into the longest gap; then takes it as `take_longest_gap` does.
    fn finish(&self) -> f64 {
        self.note_gap(coarse_nanos());
        self.take_longest_gap()
    }

    fn iterations(&self) -> u64 {
        self.iterations.load(Relaxed)
    }

    /// Seconds since this run started iterating.
    fn elapsed(&self) -> f64 {
        self.elapsed_nanos() as f64 / NANOS
    }

    fn elapsed_nanos(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// `IterationClock#tick`, bound without `magnus::method!`: magnus checks the receiver's type
/// inside `rb_protect` (a `setjmp` per call), which costs more than the tick itself, and this is
/// called once per item. Here `rb_check_typeddata` is called directly. Ruby dispatches `tick`
/// only to IterationClock objects, so it does not raise; if it did, its `longjmp` would leave
/// this frame alone, which holds no value with a destructor.
unsafe extern "C" fn tick_method(rb_self: Value) -> Value {
    let data_type =
        std::ptr::from_ref::<DataType>(IterationClock::data_type()).cast::<rb_data_type_t>();
    // SAFETY: `DataType` is `repr(transparent)` over `rb_data_type_t`; the raise is covered above.
    let data = unsafe { rb_check_typeddata(rb_self.as_raw(), data_type) }.cast::<IterationClock>();
    // SAFETY: the pointer magnus stored when it wrapped the clock (null only for an object that
    // `allocate` made and nothing initialized), valid while the receiver of this call lives.
    let ticked = unsafe { data.as_ref() }.is_some_and(IterationClock::tick);
    let answer = if ticked { Qtrue } else { Qfalse };
    // SAFETY: true and false are special constants, valid `VALUE`s.
    unsafe { Value::from_raw(answer as VALUE) }
}

/// Seconds as nanoseconds; negative, NaN or infinite values are refused.
fn nanos(ruby: &Ruby, what: &str, seconds: f64) -> Result<u64, Error> {
    if seconds.is_finite() && seconds >= 0.0 {
        Ok((seconds * NANOS) as u64)
    } else {
        Err(errors::argument_error(
            ruby,
            format!("the {what} must be a non-negative number of seconds, got {seconds}"),
        ))
    }
}

/// CLOCK_MONOTONIC_COARSE in nanoseconds: the time of the last timer tick (1 to 4 ms
/// resolution), read from the vDSO for a few nanoseconds, where CLOCK_MONOTONIC costs several
/// times more. Checkpoints a tenth of a second apart need no finer resolution.
fn coarse_nanos() -> u64 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into a local timespec; this clock exists on every Linux since 2.6.32, and
    // on failure the zeroed value only makes a checkpoint come early.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut time);
    }
    let seconds = u64::try_from(time.tv_sec).unwrap_or(0);
    let fraction = u64::try_from(time.tv_nsec).unwrap_or(0);
    seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(fraction)
}

pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    let class = native.define_class("IterationClock", ruby.class_object())?;
    class.define_singleton_method("new", magnus::function!(IterationClock::new, 3))?;
    class.define_method("tick", tick_method as unsafe extern "C" fn(Value) -> Value)?;
    class.define_method(
        "flush_due?",
        magnus::method!(IterationClock::is_flush_due, 0),
    )?;
    class.define_method("flushed!", magnus::method!(IterationClock::flushed, 0))?;
    class.define_method(
        "over_limit?",
        magnus::method!(IterationClock::is_over_limit, 0),
    )?;
    class.define_method(
        "take_longest_gap",
        magnus::method!(IterationClock::take_longest_gap, 0),
    )?;
    class.define_method("finish", magnus::method!(IterationClock::finish, 0))?;
    class.define_method("iterations", magnus::method!(IterationClock::iterations, 0))?;
    class.define_method("elapsed", magnus::method!(IterationClock::elapsed, 0))?;
    Ok(())
}
