//! Where Ruby threads run their Redis I/O: a small current-thread tokio runtime per Ruby
//! thread, with that thread's own Redis connections.
//!
//! Everything of a round trip then happens on the waiting thread itself (write, wait in
//! epoll, read) with no hand-off to other threads: one wake-up per command, as with a
//! blocking client, which matters on a small machine where every futex wake costs a context
//! switch the Redis server could have used.
//!
//! After `fork(2)` a thread-local copy of the parent's runtime and sockets lives on in the
//! child; using them would share an epoll instance and sockets with the parent. Each entry
//! records the fork generation it was made in (bumped in every child by a `pthread_atfork`
//! hook, which is cheaper than a `getpid` per command); a stale one is leaked (never dropped:
//! dropping would close what the parent still uses) and replaced.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use ferrokiq_core::{RedisConnection, RedisResult, RedisSettings};
use tokio::runtime::{Builder, Runtime};

use crate::wakeup::Wakeup;

/// A thread's runtime and the eventfd that interrupts its waits.
pub struct Driver {
    pub runtime: Runtime,
    pub wakeup: Wakeup,
}

static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::SeqCst);
    crate::gvl::forget_spinner();
}

/// How many forks lie between the first process and this one (see the module's comment).
pub fn fork_generation() -> u64 {
    FORK_GENERATION.load(Ordering::SeqCst)
}

/// Registers the fork hook; called once when the library loads.
pub fn watch_forks() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // SAFETY: registers a handler that only touches an atomic (async-signal-safe).
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
}

struct ThreadIo {
    generation: u64,
    driver: Rc<Driver>,
    connections: HashMap<u64, Rc<RedisConnection>>,
}

thread_local! {
    static THREAD_IO: RefCell<Option<ThreadIo>> = const { RefCell::new(None) };
}

/// Failure to set up the thread's I/O.
pub enum SetupError {
    Runtime(std::io::Error),
    Redis(ferrokiq_core::RedisFailure),
}

/// Runs `f` on this thread's I/O state, creating it (or replacing a stale copy from before a
/// fork) first.
fn with_thread_io<R>(
    f: impl FnOnce(&mut ThreadIo) -> Result<R, SetupError>,
) -> Result<R, SetupError> {
    THREAD_IO.with(|cell| {
        let mut slot = cell.borrow_mut();
        let generation = FORK_GENERATION.load(Ordering::SeqCst);
        if slot.as_ref().is_some_and(|io| io.generation != generation) {
            std::mem::forget(slot.take());
        }
        let io = match slot.as_mut() {
            Some(io) => io,
            None => {
                let runtime = Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(SetupError::Runtime)?;
                let wakeup = Wakeup::new(&runtime).map_err(SetupError::Runtime)?;
                slot.insert(ThreadIo {
                    generation,
                    driver: Rc::new(Driver { runtime, wakeup }),
                    connections: HashMap::new(),
                })
            }
        };
        f(io)
    })
}

/// This thread's driver (to wait on futures of other components, like the engine).
pub fn thread_driver() -> Result<Rc<Driver>, SetupError> {
    with_thread_io(|io| Ok(Rc::clone(&io.driver)))
}

/// This thread's driver and its connection for the pool `pool_id`, created on first use.
pub fn thread_connection(
    pool_id: u64,
    settings: &RedisSettings,
) -> Result<(Rc<Driver>, Rc<RedisConnection>), SetupError> {
    with_thread_io(|io| {
        let connection = match io.connections.get(&pool_id) {
            Some(conn) => Rc::clone(conn),
            None => {
                let conn = Rc::new(new_connection(settings).map_err(SetupError::Redis)?);
                io.connections.insert(pool_id, Rc::clone(&conn));
                conn
            }
        };
        Ok((Rc::clone(&io.driver), connection))
    })
}

fn new_connection(settings: &RedisSettings) -> RedisResult<RedisConnection> {
    RedisConnection::new(settings.clone())
}

/// Drops this thread's connection for `pool_id` (the pool was garbage collected).
pub fn forget_pool(pool_id: u64) {
    // During thread teardown the thread-local may already be gone; nothing to do then.
    let _ = THREAD_IO.try_with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            let generation = FORK_GENERATION.load(Ordering::SeqCst);
            if let Some(io) = slot.as_mut().filter(|io| io.generation == generation) {
                io.connections.remove(&pool_id);
            }
        }
    });
}
