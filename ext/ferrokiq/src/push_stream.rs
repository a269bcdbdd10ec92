//! `NativeRedis#push_through(jobs, accepted, now, ahead) { |job| ... }`: a bulk push's slice
//! through client middleware. The block is the chain; each job it returns is encoded at once,
//! and a large slice is streamed to Redis in chunks while the chain still runs (a MULTI that
//! the last chunk's EXEC completes: `ferrokiq_core::streamed_push`), so that Redis receives and
//! parses the slice while Ruby works instead of after it (docs/performance.md, §6). Which slices
//! go this way, and what they share with `raw_push`: docs/internals.md, §4.

use ferrokiq_core::streamed_push::{stream_to_queue, Part};
use magnus::{prelude::*, Error, RArray, RHash, Ruby, Value};
use tokio::sync::{mpsc, oneshot};

use crate::errors;
use crate::push_ahead::{await_later, send_ahead, sender_for, settle_push};
use crate::redis::{dump_stamped, NativeRedis};

/// Slices smaller than this are sent in one piece when the chain is done: for them a second
/// socket and a transaction cost more than the overlap saves.
const STREAM_FROM_JOBS: usize = 256;

/// Jobs per chunk sent during the chain: large enough that a chunk's round trip is cheap beside
/// the chain's time for it, small enough that little is left for the EXEC.
const CHUNK_JOBS: usize = 128;

/// Yields each job Hash of `jobs` to the block and pushes the result (the job to store, or nil)
/// onto `accepted`, then stores the slice as `raw_push` would on a queue and returns the jids, in
/// order, nil where the chain said no. Returns nil instead when the slice is not a plain queue
/// push (the first job stored has `at`, or a job has a `lock`): nothing of it is stored then, and
/// the caller stores `accepted` the general way. `now` is Ruby's clock, for `enqueued_at`; with
/// `ahead` (more slices follow) the reply is collected by the next slice or by `settle_push`.
pub fn push_through(
    ruby: &Ruby,
    redis: &NativeRedis,
    jobs: RArray,
    accepted: RArray,
    now: f64,
    ahead: bool,
) -> Result<Option<RArray>, Error> {
    let now = ruby.float_from_f64(now).as_value();
    let jids = ruby.ary_new_capa(jobs.len());
    let mut slice = Slice {
        streamable: jobs.len() >= STREAM_FROM_JOBS,
        queue: None,
        pending: Vec::with_capacity(CHUNK_JOBS.min(jobs.len())),
        stream: None,
    };
    let mut plain = true;
    // Looked up in every job: made once, where a Rust &str key would make a String per lookup.
    let (jid_key, lock_key) = (ruby.str_new("jid"), ruby.str_new("lock"));
    for i in 0..jobs.len() {
        let result: Value = ruby.yield_value(jobs.entry::<Value>(i as isize)?)?;
        accepted.push(result)?;
        if !plain {
            continue;
        }
        if !result.to_bool() {
            jids.push(ruby.qnil())?;
            continue;
        }
        // Anything but a Hash is raw_push's to judge.
        let Some(job) = RHash::from_value(result) else {
            plain = false;
            continue;
        };
        if slice.queue.is_none() {
            if job.get("at").is_some() {
                plain = false;
                continue;
            }
            slice.queue = Some(job.fetch("queue")?);
        }
        if job.get(lock_key).is_some_and(|lock| lock.to_bool()) {
            plain = false;
            continue;
        }
        jids.push(job.aref::<_, Value>(jid_key)?)?;
        slice.pending.push(dump_stamped(ruby, job, now)?);
        if slice.pending.len() >= CHUNK_JOBS {
            slice.send_chunk(ruby, redis)?;
        }
    }
    if !plain {
        // Dropping the stream discards what was sent of it.
        return Ok(None);
    }
    slice.store(ruby, redis, ahead)?;
    Ok(Some(jids))
}

struct Slice {
    /// Whether the slice is large enough to stream (cleared when the sending thread is busy).
    streamable: bool,
    /// The first stored job's queue, where all of them go (as `raw_push` does).
    queue: Option<String>,
    /// Encoded payloads not yet handed over.
    pending: Vec<Vec<u8>>,
    stream: Option<mpsc::UnboundedSender<Part>>,
}

impl Slice {
    fn send_chunk(&mut self, ruby: &Ruby, redis: &NativeRedis) -> Result<(), Error> {
        if self.stream.is_none() && self.streamable {
            self.stream = self.open(ruby, redis)?;
            self.streamable = self.stream.is_some();
        }
        let Some(stream) = &self.stream else {
            return Ok(());
        };
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK_JOBS));
        stream
            .send(Part::Jobs(chunk))
            .map_err(|_| stream_ended(ruby))
    }

    /// A stream on the background thread (`push_ahead.rs`); None while another thread holds that
    /// thread's lock, and the slice then goes in one piece.
    fn open(
        &self,
        ruby: &Ruby,
        redis: &NativeRedis,
    ) -> Result<Option<mpsc::UnboundedSender<Part>>, Error> {
        let Some(queue) = self.queue.clone() else {
            return Ok(None);
        };
        let sender =
            sender_for(redis.id(), redis.settings()).map_err(|e| errors::setup_error(ruby, e))?;
        Ok(sender.map(|(handle, conn)| {
            let (parts, received) = mpsc::unbounded_channel();
            handle.spawn(stream_to_queue(conn, queue, received));
            parts
        }))
    }

    /// Sends what is left. The slice sent ahead before this one is stored first (`settle_push`),
    /// so the queue keeps the push's order.
    fn store(self, ruby: &Ruby, redis: &NativeRedis, ahead: bool) -> Result<(), Error> {
        let Some(queue) = self.queue else {
            return Ok(());
        };
        let Some(stream) = self.stream else {
            if ahead {
                return send_ahead(ruby, redis, queue, self.pending);
            }
            settle_push(ruby)?;
            return redis.send_to_queue(ruby, &queue, &self.pending);
        };
        settle_push(ruby)?;
        let (reply, answer) = oneshot::channel();
        stream
            .send(Part::Commit(self.pending, reply))
            .map_err(|_| stream_ended(ruby))?;
        await_later(answer);
        if ahead {
            return Ok(());
        }
        settle_push(ruby)
    }
}

fn stream_ended(ruby: &Ruby) -> Error {
    errors::runtime_error(
        ruby,
        &"the bulk push's sending thread ended before the slice was sent; nothing of it was stored",
    )
}
