//! A bulk push sends each slice but the last ahead: `NativeRedis#push_bulk` (no client
//! middleware) and `NativeRedis#push_through` (through it; a large slice is even streamed while
//! the chain runs, see `push_stream.rs`) hand a slice's payloads to a background thread and
//! return, so that Redis stores slice k while Ruby works on slice k+1; the reply is collected
//! before the next slice is sent or by `settle_push` (which `push_bulk` calls before it
//! returns), and a failure raises there.
//! Why and what it saves: docs/performance.md, §6; which slices go this way:
//! docs/internals.md, §4.
//!
//! The background thread is a one-worker tokio runtime with one connection per pool, made on
//! first use and made again in a forked child (the parent's thread does not exist there; its
//! runtime and sockets are leaked, as `runtime.rs` does). A thread has at most one slice
//! unanswered: sending the next one collects the reply first, so failures come in order.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, TryLockError};

use ferrokiq_core::{client, RedisConnection, RedisFailure, RedisResult, RedisSettings};
use magnus::{prelude::*, Error, Ruby};
use tokio::runtime::{Builder, Handle, Runtime};
use tokio::sync::oneshot;

use crate::redis::NativeRedis;
use crate::runtime::{fork_generation, thread_driver, SetupError};
use crate::{errors, gvl};

struct Sender {
    generation: u64,
    runtime: Runtime,
    connections: HashMap<u64, Arc<RedisConnection>>,
}

static SENDER: Mutex<Option<Sender>> = Mutex::new(None);

thread_local! {
    /// The reply this thread has not collected yet, with the fork generation it was sent in.
    static UNANSWERED: RefCell<Option<(u64, oneshot::Receiver<RedisResult<()>>)>> =
        const { RefCell::new(None) };
}

/// The background runtime's handle and its connection for `pool_id`. None when another thread
/// holds the lock this moment (or a fork left it held).
pub(crate) fn sender_for(
    pool_id: u64,
    settings: &RedisSettings,
) -> Result<Option<(Handle, Arc<RedisConnection>)>, SetupError> {
    let mut slot = match SENDER.try_lock() {
        Ok(slot) => slot,
        Err(TryLockError::WouldBlock) => return Ok(None),
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
    };
    let generation = fork_generation();
    if slot
        .as_ref()
        .is_some_and(|sender| sender.generation != generation)
    {
        std::mem::forget(slot.take());
    }
    let sender = match slot.as_mut() {
        Some(sender) => sender,
        None => {
            let runtime = Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("ferrokiq.push")
                .enable_all()
                .build()
                .map_err(SetupError::Runtime)?;
            slot.insert(Sender {
                generation,
                runtime,
                connections: HashMap::new(),
            })
        }
    };
    let connection = match sender.connections.get(&pool_id) {
        Some(conn) => Arc::clone(conn),
        None => {
            let conn = Arc::new(RedisConnection::new(settings.clone()).map_err(SetupError::Redis)?);
            sender.connections.insert(pool_id, Arc::clone(&conn));
            conn
        }
    };
    Ok(Some((sender.runtime.handle().clone(), connection)))
}

/// Drops the background connection of a pool that was garbage collected.
pub fn forget_pool(pool_id: u64) {
    if let Ok(mut slot) = SENDER.try_lock() {
        if let Some(sender) = slot.as_mut() {
            sender.connections.remove(&pool_id);
        }
    }
}

/// Collects the reply to the slice sent before (raising its failure), then sends encoded
/// payloads to `queue` from the background thread and returns. While another thread holds the
/// sending thread's lock this moment (or a fork left it held), the payloads go at once, on this
/// thread's own connection, and the reply is waited for: no thread ever waits for that lock.
pub fn send_ahead(
    ruby: &Ruby,
    redis: &NativeRedis,
    queue: String,
    encoded: Vec<Vec<u8>>,
) -> Result<(), Error> {
    settle_push(ruby)?;
    let sender =
        sender_for(redis.id(), redis.settings()).map_err(|e| errors::setup_error(ruby, e))?;
    let Some((handle, conn)) = sender else {
        return redis.send_to_queue(ruby, &queue, &encoded);
    };
    let (reply, answer) = oneshot::channel();
    handle.spawn(async move {
        // The receiver is gone only when its thread died; the jobs are stored all the same.
        let _ = reply.send(client::push_to_queue(&conn, &queue, &encoded).await);
    });
    await_later(answer);
    Ok(())
}

/// Makes `answer` the reply this thread collects at its next `settle_push`. The reply before it
/// must have been collected already.
pub(crate) fn await_later(answer: oneshot::Receiver<RedisResult<()>>) {
    UNANSWERED.with(|slot| *slot.borrow_mut() = Some((fork_generation(), answer)));
}

/// `Ferrokiq::Native.settle_push`: waits (without the GVL, interruptibly) for the reply to the
/// slice this thread sent ahead last and raises its failure; nil at once when nothing is
/// unanswered. A reply owed to the parent process before a fork is not this process's to report.
pub fn settle_push(ruby: &Ruby) -> Result<(), Error> {
    let Some((generation, answer)) = UNANSWERED.with(|slot| slot.borrow_mut().take()) else {
        return Ok(());
    };
    if generation != fork_generation() {
        return Ok(());
    }
    let driver = thread_driver().map_err(|e| errors::setup_error(ruby, e))?;
    gvl::wait_for(ruby, &driver.runtime, &driver.wakeup, async move {
        answer.await.unwrap_or_else(|_| {
            Err(RedisFailure::Command(
                "the bulk push's sending thread ended before Redis answered".to_string(),
            ))
        })
    })
}

pub fn init(native: &magnus::RModule) -> Result<(), Error> {
    native.define_singleton_method("settle_push", magnus::function!(settle_push, 0))?;
    Ok(())
}
