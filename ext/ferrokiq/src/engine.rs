//! `Ferrokiq::Native::Engine`: the server engine as the Ruby launcher and worker threads see
//! it. Jobs come out as `[queue, payload]`; everything that touches Redis runs in Rust.

use std::time::Duration;

use ferrokiq_core::log_writer::JobContext;
use ferrokiq_core::payload::now_epoch_seconds;
use ferrokiq_core::retry;
use ferrokiq_core::rng::Rng;
use ferrokiq_core::server::hand_off::{ClaimedJob, Outcome};
use ferrokiq_core::server::{
    sets, CapsuleConfig, Engine, FetchMode, FetchedJob, HandOffNext, NextJob, ServerConfig,
};
use ferrokiq_core::unique_jobs::{self, LockRelease};
use ferrokiq_core::RedisResult;
use magnus::{prelude::*, Error, RArray, RHash, RModule, RString, Ruby, Value};

use crate::log_writer::NativeLogWriter;
use crate::redis::{dump, NativeRedis};
use crate::runtime::thread_driver;
use crate::{errors, gvl};

#[magnus::wrap(class = "Ferrokiq::Native::Engine", free_immediately, size)]
pub struct NativeEngine {
    engine: Engine,
}

/// `[class, jid, bid, tags]` for a job the core logs.
type LogArgs = (String, String, Option<String>, Option<Vec<String>>);

/// A capsule besides the default one as the launcher passes it: `[name, concurrency,
/// [[queue, weight], ...]]`.
type CapsuleArgs = (String, usize, Vec<(String, u32)>);

/// An engine event as Ruby gets it: level, log line, and the context and error to report.
type EventArgs = (&'static str, String, Option<&'static str>, Option<String>);

/// Waits for an engine future on this thread, without the GVL and interruptibly.
fn wait<T>(
    ruby: &Ruby,
    future: impl std::future::Future<Output = RedisResult<T>>,
) -> Result<T, Error> {
    let driver = thread_driver().map_err(|e| errors::setup_error(ruby, e))?;
    gvl::wait_for(ruby, &driver.runtime, &driver.wakeup, future)
}

/// The default job options as JSON (nil: Sidekiq's stock ones) to a map.
fn scheduler_defaults(
    ruby: &Ruby,
    json: Option<String>,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, Error> {
    json.map(|text| match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(errors::argument_error(
            ruby,
            format!("default job options must be a JSON object: {text}"),
        )),
    })
    .transpose()
}

/// A payload's bytes as Ruby holds them (whatever their encoding says).
fn bytes(string: RString) -> Vec<u8> {
    // SAFETY: copied at once, while the GVL is held and before any Ruby code can run.
    unsafe { string.as_slice() }.to_vec()
}

/// Bytes from Redis as a UTF-8 String (possibly with invalid bytes, as redis-client gives).
fn utf8_string(ruby: &Ruby, bytes: &[u8]) -> RString {
    ruby.enc_str_new(bytes, ruby.utf8_encoding())
}

fn job_pairs(list: RArray) -> Result<Vec<FetchedJob>, Error> {
    let mut jobs = Vec::with_capacity(list.len());
    for i in 0..list.len() {
        let (queue, payload): (String, RString) = list.entry(i as isize)?;
        jobs.push(FetchedJob {
            queue,
            payload: bytes(payload),
        });
    }
    Ok(jobs)
}

impl NativeEngine {
    /// `Engine.new(redis, options)`: connects, recovers dead processes' jobs, starts fetching.
    /// `concurrency` and `queues` are the default capsule's; `capsules` (optional) the others.
    fn new(ruby: &Ruby, redis: &NativeRedis, options: RHash) -> Result<Self, Error> {
        let queues: Vec<(String, u32)> = options.fetch("queues")?;
        let fetch: String = options.fetch("fetch")?;
        let capsules: Option<Vec<CapsuleArgs>> = options.lookup("capsules")?;
        let capsules = capsules
            .unwrap_or_default()
            .into_iter()
            .map(|(name, concurrency, queues)| CapsuleConfig {
                name,
                concurrency,
                queues,
            })
            .collect();
        let config = ServerConfig {
            identity: options.fetch("identity")?,
            hostname: options.fetch("hostname")?,
            pid: std::process::id(),
            tag: options.fetch("tag")?,
            labels: options.fetch("labels")?,
            concurrency: options.fetch("concurrency")?,
            queues,
            capsules,
            fetch: match fetch.as_str() {
                "basic" => FetchMode::Basic,
                "reliable" => FetchMode::Reliable,
                other => {
                    return Err(errors::argument_error(
                        ruby,
                        format!("unknown fetch strategy {other:?} (use :reliable or :basic)"),
                    ))
                }
            },
            // Optional: the queues `:dynamic:` excludes, nil when it is off.
            dynamic: options.lookup::<_, Option<Vec<String>>>("dynamic")?,
            version: options.fetch("version")?,
            // Optional: only Sidekiq.configure_embed's launcher sets it.
            embedded: options
                .lookup::<_, Option<bool>>("embedded")?
                .unwrap_or(false),
            started_at: now_epoch_seconds(),
            stranded_after: Duration::from_secs_f64(options.fetch("stranded_after")?),
            dead_max_jobs: options.fetch("dead_max_jobs")?,
            dead_timeout: Duration::from_secs_f64(options.fetch("dead_timeout")?),
            scheduler_defaults: scheduler_defaults(ruby, options.fetch("scheduler_defaults")?)?,
            // Optional: true when client middleware must see due jobs re-pushed.
            scheduler_hand_off: options
                .lookup::<_, Option<bool>>("scheduler_hand_off")?
                .unwrap_or(false),
        };
        let settings = redis.settings().clone();
        let engine = wait(ruby, async move {
            // Starting builds a runtime; do it off the Ruby thread's own runtime.
            std::thread::spawn(move || Engine::start(config, settings))
                .join()
                .unwrap_or_else(|_| {
                    Err(ferrokiq_core::RedisFailure::Config(
                        "the engine failed to start".to_string(),
                    ))
                })
        })?;
        Ok(NativeEngine { engine })
    }

    /// The next job of the default capsule (see `next_job_for`).
    fn next_job(ruby: &Ruby, rb_self: &Self, timeout: f64) -> Result<Value, Error> {
        Self::next_job_for(ruby, rb_self, 0, timeout)
    }

    /// The capsules' names; a capsule's index in this Array is what `next_job_for` takes.
    fn capsules(&self) -> Vec<String> {
        self.engine.capsule_names()
    }

    /// The next job for a thread of capsule `index` as `[queue, payload]`, nil when none came
    /// within `timeout` seconds, false once the process is quiet. Waits without the GVL.
    fn next_job_for(
        ruby: &Ruby,
        rb_self: &Self,
        index: usize,
        timeout: f64,
    ) -> Result<Value, Error> {
        let mut next = rb_self.engine.try_next_job_for(index);
        if next == NextJob::Empty {
            let (interrupt_tx, interrupt_rx) = crossbeam_channel::bounded::<()>(1);
            let engine = &rb_self.engine;
            let timeout = Duration::from_secs_f64(timeout.max(0.0));
            next = gvl::without_gvl(
                || engine.next_job_for(index, timeout, &interrupt_rx),
                &interrupt_tx,
            )
            .unwrap_or(NextJob::Empty);
            ruby.thread_check_ints()?;
        }
        Ok(match next {
            NextJob::Job(job) => ruby
                .ary_new_from_values(&[
                    ruby.str_new(&job.queue).as_value(),
                    utf8_string(ruby, &job.payload).as_value(),
                ])
                .as_value(),
            NextJob::Empty => ruby.qnil().as_value(),
            NextJob::Stopped => ruby.qfalse().as_value(),
        })
    }

    fn acknowledge(&self, queue: String, payload: RString) {
        self.engine.acknowledge(FetchedJob {
            queue,
            payload: bytes(payload),
        });
    }

    /// The job succeeded and gives back its until_executed lock (`digest`, held by `jid`): the
    /// engine releases it with the acknowledgement (docs/design.md, §24).
    fn acknowledge_and_release(
        &self,
        queue: String,
        payload: RString,
        digest: String,
        jid: String,
    ) {
        self.engine.acknowledge_and_release(
            FetchedJob {
                queue,
                payload: bytes(payload),
            },
            LockRelease { digest, jid },
        );
    }

    /// The job ended unsettled: it stays in the working list for the sweep.
    fn abandon(&self, queue: String, payload: RString) {
        self.engine.abandon(&FetchedJob {
            queue,
            payload: bytes(payload),
        });
    }

    /// The calling worker thread of capsule `lane` is ending (see `Engine::worker_thread_ended`).
    fn worker_thread_ended(&self, lane: usize) {
        self.engine.worker_thread_ended(lane);
    }

    /// `log`: nil, or `[class, jid, bid_or_nil, tags_or_nil]` for the core to log the job.
    fn work_started(&self, tid: String, queue: String, payload: RString, log: Option<LogArgs>) {
        let context = log.map(|(class, jid, bid, tags)| JobContext {
            class: class.into(),
            jid: jid.into(),
            bid: bid.map(Into::into),
            tags: tags.map(|tags| tags.into_iter().map(Into::into).collect()),
        });
        self.engine
            .work_started(&tid, queue, bytes(payload), context);
    }

    /// The core writes the per-job lines from now on, through the server logger's writer.
    fn log_jobs_to(&self, writer: &NativeLogWriter) -> bool {
        self.engine.log_jobs_to(writer.writer());
        true
    }

    fn work_finished(&self, tid: String, failed: bool) {
        self.engine.work_finished(&tid, failed);
    }

    /// Counts one job's execution for the metrics: its class (`wrapped` or `class`), queue,
    /// whole milliseconds and whether it failed: false or nil when it did not, true or the
    /// exception's class name when it did. Memory only, never Redis.
    fn record_execution(&self, class: RString, queue: RString, ms: u64, failed: Value) {
        // SAFETY: read at once, while the GVL is held and before any Ruby code can run.
        let (class, queue) = unsafe { (class.as_slice(), queue.as_slice()) };
        let (class, queue) = (
            String::from_utf8_lossy(class),
            String::from_utf8_lossy(queue),
        );
        match RString::from_value(failed) {
            Some(error) => {
                // SAFETY: as above.
                let error = String::from_utf8_lossy(unsafe { error.as_slice() }).into_owned();
                self.engine
                    .record_failed_execution(&class, &queue, ms, &error);
            }
            None => self
                .engine
                .record_execution(&class, &queue, ms, failed.to_bool()),
        }
    }

    /// The launcher's upkeep loop ticked (a clock of `/live` and the systemd watchdog).
    fn upkeep_tick(&self) {
        self.engine.upkeep_tick();
    }

    /// The core engine, for the operations handles (`operations.rs`).
    pub(crate) fn core(&self) -> &Engine {
        &self.engine
    }

    fn busy(&self) -> usize {
        self.engine.busy_count()
    }

    /// Never raises for Redis: what could not be put back is reported as events.
    fn quiet(ruby: &Ruby, rb_self: &Self) -> Result<bool, Error> {
        wait(ruby, async {
            rb_self.engine.quiet().await;
            Ok(())
        })?;
        Ok(true)
    }

    fn is_quiet(&self) -> bool {
        self.engine.is_quiet()
    }

    /// Puts `[[queue, payload], ...]` back at the head of their queues.
    fn requeue(ruby: &Ruby, rb_self: &Self, jobs: RArray) -> Result<usize, Error> {
        let jobs = job_pairs(jobs)?;
        wait(ruby, rb_self.engine.requeue(&jobs))?;
        Ok(jobs.len())
    }

    /// One heartbeat: `[first_beat, remote_signal_or_nil]`.
    fn beat(ruby: &Ruby, rb_self: &Self) -> Result<(bool, Option<String>), Error> {
        let reply = wait(ruby, rb_self.engine.beat())?;
        Ok((reply.first, reply.signal))
    }

    /// Never raises for Redis: failures of the last steps are reported as events.
    fn stop(ruby: &Ruby, rb_self: &Self) -> Result<bool, Error> {
        wait(ruby, async {
            rb_self.engine.stop().await;
            Ok(())
        })?;
        Ok(true)
    }

    /// `[[level, message, context_or_nil, error_or_nil], ...]`: with a context, the error
    /// handlers must see `error`.
    fn events(&self) -> Vec<EventArgs> {
        self.engine
            .take_events()
            .into_iter()
            .map(|event| {
                let (context, error) = event
                    .report
                    .map(|report| (report.context, report.error))
                    .unzip();
                (event.level.name(), event.message, context, error)
            })
            .collect()
    }

    /// Why the engine stopped working (nil while it works): the process must shut down.
    fn failure(&self) -> Option<String> {
        self.engine.failure()
    }

    /// `ZADD retry <at> <payload>`.
    fn schedule_retry(
        ruby: &Ruby,
        rb_self: &Self,
        payload: RString,
        at: f64,
    ) -> Result<bool, Error> {
        let conn = rb_self.engine.connection().clone();
        let payload = bytes(payload);
        wait(ruby, async move {
            sets::schedule_retry(&conn, at, &payload).await
        })?;
        Ok(true)
    }

    /// Adds a payload to the dead set, trimmed by the configured age and size.
    fn send_to_morgue(ruby: &Ruby, rb_self: &Self, payload: RString) -> Result<bool, Error> {
        let conn = rb_self.engine.connection().clone();
        let payload = bytes(payload);
        let config = rb_self.engine.config();
        let (max, timeout) = (config.dead_max_jobs, config.dead_timeout.as_secs_f64());
        wait(ruby, async move {
            sets::send_to_morgue(&conn, now_epoch_seconds(), &payload, max, timeout).await
        })?;
        Ok(true)
    }

    /// The next due job the scheduler claimed for the client middleware as `[set, member]`,
    /// nil when none came within `timeout` seconds, false once the process is quiet and none is
    /// left. Waits without the GVL.
    fn next_hand_off(ruby: &Ruby, rb_self: &Self, timeout: f64) -> Result<Value, Error> {
        let (interrupt_tx, interrupt_rx) = crossbeam_channel::bounded::<()>(1);
        let engine = &rb_self.engine;
        let timeout = Duration::from_secs_f64(timeout.max(0.0));
        let next = gvl::without_gvl(
            || engine.next_hand_off(timeout, &interrupt_rx),
            &interrupt_tx,
        )
        .unwrap_or(HandOffNext::Empty);
        ruby.thread_check_ints()?;
        Ok(match next {
            HandOffNext::Job(job) => ruby
                .ary_new_from_values(&[
                    ruby.str_new(&job.set).as_value(),
                    utf8_string(ruby, &job.member).as_value(),
                ])
                .as_value(),
            HandOffNext::Empty => ruby.qnil().as_value(),
            HandOffNext::Stopped => ruby.qfalse().as_value(),
        })
    }

    fn settle_hand_off(
        ruby: &Ruby,
        rb_self: &Self,
        set: String,
        member: RString,
        outcome: Outcome,
    ) -> Result<bool, Error> {
        let job = ClaimedJob {
            set,
            member: bytes(member),
        };
        let engine = &rb_self.engine;
        wait(ruby, async move {
            engine.complete_hand_off(&job, &outcome).await
        })
    }

    /// Pushes a claimed job as the client middleware left it (`job`, a Hash, stamped
    /// `enqueued_at` = `now` and encoded as any push is) to its queue and takes it off the
    /// hand-off list, in one script; false when it was no longer claimed.
    fn hand_off_push(
        ruby: &Ruby,
        rb_self: &Self,
        set: String,
        member: RString,
        job: RHash,
        now: f64,
    ) -> Result<bool, Error> {
        let queue: String = job.fetch("queue")?;
        job.aset("enqueued_at", ruby.float_from_f64(now))?;
        let outcome = Outcome::Push {
            queue,
            payload: dump(ruby, job, &[])?,
        };
        Self::settle_hand_off(ruby, rb_self, set, member, outcome)
    }

    /// A middleware cancelled the push: the claimed job is dropped.
    fn hand_off_cancel(
        ruby: &Ruby,
        rb_self: &Self,
        set: String,
        member: RString,
    ) -> Result<bool, Error> {
        Self::settle_hand_off(ruby, rb_self, set, member, Outcome::Cancel)
    }

    /// The claimed job cannot be pushed: to the dead set, trimmed as configured.
    fn hand_off_kill(
        ruby: &Ruby,
        rb_self: &Self,
        set: String,
        member: RString,
    ) -> Result<bool, Error> {
        let config = rb_self.engine.config();
        let outcome = Outcome::Dead {
            now: now_epoch_seconds(),
            max_jobs: config.dead_max_jobs,
            timeout_secs: config.dead_timeout.as_secs_f64(),
        };
        Self::settle_hand_off(ruby, rb_self, set, member, outcome)
    }
}

/// `Ferrokiq::Native.retry_delay(count)`: Sidekiq 7's default delay with jitter.
fn retry_delay(count: u64) -> f64 {
    retry::default_delay(count, &mut Rng::from_os())
}

/// `Ferrokiq::Native.retry_jitter(count)`: the jitter added to custom delays.
fn retry_jitter(count: u64) -> f64 {
    retry::jitter(count, &mut Rng::from_os())
}

/// `Ferrokiq::Native.compress_backtrace(lines)`.
fn compress_backtrace(lines: Vec<String>) -> String {
    retry::compress_backtrace(&lines)
}

pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    native.define_singleton_method("retry_delay", magnus::function!(retry_delay, 1))?;
    native.define_singleton_method("retry_jitter", magnus::function!(retry_jitter, 1))?;
    native.define_singleton_method(
        "compress_backtrace",
        magnus::function!(compress_backtrace, 1),
    )?;
    // The lock release script, for the Ruby side's own releases (docs/design.md, §24).
    let release = ruby.str_new(unique_jobs::RELEASE);
    release.freeze();
    native.const_set("UNIQUE_RELEASE_SCRIPT", release)?;
    let class = native.define_class("Engine", ruby.class_object())?;
    class.define_singleton_method("new", magnus::function!(NativeEngine::new, 2))?;
    class.define_method("next_job", magnus::method!(NativeEngine::next_job, 1))?;
    class.define_method(
        "next_job_for",
        magnus::method!(NativeEngine::next_job_for, 2),
    )?;
    class.define_method("capsules", magnus::method!(NativeEngine::capsules, 0))?;
    class.define_method("acknowledge", magnus::method!(NativeEngine::acknowledge, 2))?;
    class.define_method(
        "acknowledge_and_release",
        magnus::method!(NativeEngine::acknowledge_and_release, 4),
    )?;
    class.define_method("abandon", magnus::method!(NativeEngine::abandon, 2))?;
    class.define_method(
        "worker_thread_ended",
        magnus::method!(NativeEngine::worker_thread_ended, 1),
    )?;
    class.define_method(
        "work_started",
        magnus::method!(NativeEngine::work_started, 4),
    )?;
    class.define_method(
        "work_finished",
        magnus::method!(NativeEngine::work_finished, 2),
    )?;
    class.define_method(
        "record_execution",
        magnus::method!(NativeEngine::record_execution, 4),
    )?;
    class.define_method("busy", magnus::method!(NativeEngine::busy, 0))?;
    class.define_method("upkeep_tick", magnus::method!(NativeEngine::upkeep_tick, 0))?;
    class.define_method("log_jobs_to", magnus::method!(NativeEngine::log_jobs_to, 1))?;
    class.define_method("quiet", magnus::method!(NativeEngine::quiet, 0))?;
    class.define_method("quiet?", magnus::method!(NativeEngine::is_quiet, 0))?;
    class.define_method("requeue", magnus::method!(NativeEngine::requeue, 1))?;
    class.define_method("beat", magnus::method!(NativeEngine::beat, 0))?;
    class.define_method("stop", magnus::method!(NativeEngine::stop, 0))?;
    class.define_method("events", magnus::method!(NativeEngine::events, 0))?;
    class.define_method("failure", magnus::method!(NativeEngine::failure, 0))?;
    class.define_method(
        "schedule_retry",
        magnus::method!(NativeEngine::schedule_retry, 2),
    )?;
    class.define_method(
        "send_to_morgue",
        magnus::method!(NativeEngine::send_to_morgue, 1),
    )?;
    class.define_method(
        "next_hand_off",
        magnus::method!(NativeEngine::next_hand_off, 1),
    )?;
    class.define_method(
        "hand_off_push",
        magnus::method!(NativeEngine::hand_off_push, 4),
    )?;
    class.define_method(
        "hand_off_cancel",
        magnus::method!(NativeEngine::hand_off_cancel, 2),
    )?;
    class.define_method(
        "hand_off_kill",
        magnus::method!(NativeEngine::hand_off_kill, 2),
    )?;
    Ok(())
}
