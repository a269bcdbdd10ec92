//! `Ferrokiq::Native::Redis`: one Redis server as the Ruby side sees it. The client's pushes and
//! the generic command interface behind `Sidekiq.redis { |conn| ... }` both go through here.
//!
//! Each Ruby thread talks to the server over its own connection, driven by its own runtime
//! (see `runtime.rs`); a forked child (Puma, Unicorn workers) opens fresh ones on first use.

use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferrokiq_core::json::ruby_float;
use ferrokiq_core::md5;
use ferrokiq_core::payload::new_jids;
use ferrokiq_core::unique_jobs::{self, ClientLock, LockedPush};
use ferrokiq_core::{client, RedisConnection, RedisResult, RedisSettings, TlsOptions};
use magnus::{
    prelude::*, Error, Integer, RArray, RHash, RModule, RString, Ruby, TryConvert, Value,
};

use crate::encode::{self, Encoder, Fields, NeedsRuby};
use crate::runtime::{forget_pool, thread_connection, Driver};
use crate::{errors, gvl, push_ahead, push_stream, reply};

static NEXT_POOL_ID: AtomicU64 = AtomicU64::new(1);

/// At most this many Symbol values of a template are rewritten as Strings by `push_bulk_locked`
/// (more, and the slice takes the general path).
const MAX_TEXTS: usize = 6;

/// `[verify, ca_pem, client_cert_pem, client_key_pem]` as the Ruby side passes it.
type TlsArgs = (bool, Option<RString>, Option<RString>, Option<RString>);

#[magnus::wrap(class = "Ferrokiq::Native::Redis", free_immediately, size)]
pub struct NativeRedis {
    id: u64,
    settings: RedisSettings,
}

impl Drop for NativeRedis {
    fn drop(&mut self) {
        forget_pool(self.id);
        push_ahead::forget_pool(self.id);
    }
}

impl NativeRedis {
    /// `Redis.new(url, username, password, db, timeout_seconds, tls)`; nil means "not given".
    /// `tls` is nil or `[verify, ca_pem, client_cert_pem, client_key_pem]`.
    fn new(
        ruby: &Ruby,
        url: String,
        username: Option<String>,
        password: Option<String>,
        db: Option<i64>,
        timeout: f64,
        tls: Option<TlsArgs>,
    ) -> Result<Self, Error> {
        if !(timeout.is_finite() && timeout > 0.0) {
            return Err(errors::argument_error(
                ruby,
                format!("Redis timeout must be a positive number of seconds, got {timeout}"),
            ));
        }
        let settings = RedisSettings {
            url,
            username,
            password,
            db,
            timeout: Duration::from_secs_f64(timeout),
            tls: tls.map(|(verify, ca, cert, key)| TlsOptions {
                verify,
                ca_pem: ca.map(bytes_of),
                client_cert_pem: cert.map(bytes_of),
                client_key_pem: key.map(bytes_of),
            }),
        };
        // Validate now, so a bad URL fails at configuration time rather than at the first push.
        RedisConnection::new(settings.clone()).map_err(|e| errors::redis_error(ruby, &e))?;
        Ok(NativeRedis {
            id: NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed),
            settings,
        })
    }

    pub fn settings(&self) -> &RedisSettings {
        &self.settings
    }

    /// The pool's number, which keys its connections.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// This thread's driver and connection to the server.
    fn io(&self, ruby: &Ruby) -> Result<(Rc<Driver>, Rc<RedisConnection>), Error> {
        thread_connection(self.id, &self.settings).map_err(|e| errors::setup_error(ruby, e))
    }

    /// Runs the Redis work `command` builds on this thread's connection, without the GVL
    /// (see `gvl::wait_for`); Redis failures become Ruby exceptions.
    pub(crate) fn round_trip<T, Fut>(
        &self,
        ruby: &Ruby,
        command: impl FnOnce(Rc<RedisConnection>) -> Fut,
    ) -> Result<T, Error>
    where
        Fut: Future<Output = RedisResult<T>>,
    {
        let (driver, conn) = self.io(ruby)?;
        gvl::wait_for(ruby, &driver.runtime, &driver.wakeup, command(conn))
    }

    fn redacted_url(&self) -> String {
        self.settings.redacted_url()
    }

    /// Enqueues job Hashes on `queue` for immediate work, each stored with `enqueued_at` = `now`
    /// (Ruby's clock, which the app's tests may stub, as `created_at` is; see `dump_stamped`),
    /// all in one round trip. Nothing is sent unless every payload could be serialized.
    fn push(
        ruby: &Ruby,
        rb_self: &Self,
        queue: String,
        payloads: RArray,
        now: f64,
    ) -> Result<bool, Error> {
        let encoded = dump_all_stamped(ruby, payloads, now)?;
        rb_self.send_to_queue(ruby, &queue, &encoded)?;
        Ok(true)
    }

    /// One round trip: `SADD queues` + `LPUSH queue:<queue>` of the encoded payloads.
    pub(crate) fn send_to_queue(
        &self,
        ruby: &Ruby,
        queue: &str,
        encoded: &[Vec<u8>],
    ) -> Result<(), Error> {
        self.round_trip(ruby, |conn| async move {
            client::push_to_queue(&conn, queue, encoded).await
        })
    }

    /// One round trip: `ZADD schedule` of (score, payload) entries.
    fn send_to_schedule(&self, ruby: &Ruby, entries: &[(String, Vec<u8>)]) -> Result<(), Error> {
        self.round_trip(ruby, |conn| async move {
            client::push_to_schedule(&conn, entries).await
        })
    }

    /// Schedules job Hashes by their `at`: `ZADD schedule`, with `at` only in the score and no
    /// `enqueued_at` in the stored JSON.
    fn schedule(ruby: &Ruby, rb_self: &Self, payloads: RArray) -> Result<bool, Error> {
        let mut entries = Vec::with_capacity(payloads.len());
        for i in 0..payloads.len() {
            let hash: RHash = payloads.entry(i as isize)?;
            let at: Value = hash.fetch("at")?;
            hash.delete::<_, Value>("enqueued_at")?;
            entries.push((score(ruby, at)?, dump(ruby, hash, &["at"])?));
        }
        rb_self.send_to_schedule(ruby, &entries)?;
        Ok(true)
    }

    /// `push_bulk` without building a Ruby Hash per job (used when no client middleware could
    /// see the Hashes): each job is `template` with its own `args` and a fresh `jid`, then
    /// `at` (a timestamp or one per job; nil to enqueue now). Returns the jids, or nil when a
    /// value needs Ruby's JSON writer (the caller then takes the general path; nothing was sent).
    /// `now` is Ruby's clock, for `enqueued_at` (see `push`). With `ahead` (more slices follow),
    /// jobs for a queue are sent ahead (`push_ahead.rs`); the reply to a slice sent ahead before
    /// is collected before this one is sent either way, so the queue keeps the push's order.
    fn push_bulk(
        ruby: &Ruby,
        rb_self: &Self,
        template: RHash,
        args: RArray,
        at: Value,
        now: f64,
        ahead: bool,
    ) -> Result<Option<RArray>, Error> {
        let queue: String = template.fetch("queue")?;
        let jids = ruby.ary_new_capa(args.len());
        let now = ruby.float_from_f64(now).as_value();
        let per_job_at = RArray::from_value(at);
        let mut encoded = Vec::with_capacity(args.len());
        let mut scores = Vec::with_capacity(if at.is_nil() { 0 } else { args.len() });
        let fresh = new_jids(args.len()).map_err(|e| errors::runtime_error(ruby, &e))?;
        for (i, fresh_jid) in fresh.iter().enumerate() {
            let job_args: Value = args.entry(i as isize)?;
            let jid = ruby.str_new(fresh_jid);
            jids.push(jid)?;
            let mut encoder = Encoder::new(ruby);
            let written = if at.is_nil() {
                let set = [
                    ("args", job_args),
                    ("jid", jid.as_value()),
                    ("enqueued_at", now),
                ];
                encoder.payload(
                    template,
                    &Fields {
                        skip: &[],
                        set: &set,
                    },
                )
            } else {
                let job_at = match per_job_at {
                    Some(all) => all.entry(i as isize)?,
                    None => at,
                };
                scores.push(score(ruby, job_at)?);
                let set = [("args", job_args), ("jid", jid.as_value())];
                encoder.payload(
                    template,
                    &Fields {
                        skip: &["enqueued_at"],
                        set: &set,
                    },
                )
            };
            if written.is_err() {
                return Ok(None);
            }
            encoded.push(encoder.finish());
        }
        if at.is_nil() && ahead {
            push_ahead::send_ahead(ruby, rb_self, queue, encoded)?;
            return Ok(Some(jids));
        }
        push_ahead::settle_push(ruby)?;
        if at.is_nil() {
            rb_self.send_to_queue(ruby, &queue, &encoded)?;
        } else {
            let entries: Vec<(String, Vec<u8>)> = scores.into_iter().zip(encoded).collect();
            rb_self.send_to_schedule(ruby, &entries)?;
        }
        Ok(Some(jids))
    }

    /// Unique jobs (docs/design.md, §24): stores job Hashes as `push` (or `schedule`, when the
    /// first has `at`) writes them, each only when it gets its client lock, in one round trip.
    /// `locks` runs 1:1 with `payloads`: nil for a job that takes no lock, else `[digest, jid,
    /// pttl_ms, score, limit, info_json_or_nil]`. `now` is Ruby's clock (`enqueued_at`, and the
    /// lock's time). Returns per job whether it was stored; nothing is sent unless every payload
    /// could be serialized.
    fn lock_and_push(
        ruby: &Ruby,
        rb_self: &Self,
        payloads: RArray,
        locks: RArray,
        now: f64,
    ) -> Result<RArray, Error> {
        let first: RHash = payloads.entry(0)?;
        let scheduled = first.get("at").is_some();
        let queue: Option<String> = if scheduled {
            None
        } else {
            Some(first.fetch("queue")?)
        };
        let lock_time = ruby_float(now)
            .ok_or_else(|| errors::argument_error(ruby, format!("not a finite time: {now}")))?;
        let now = ruby.float_from_f64(now);
        let mut jobs = Vec::with_capacity(payloads.len());
        for i in 0..payloads.len() {
            let hash: RHash = payloads.entry(i as isize)?;
            let (at, payload) = if scheduled {
                let at: Value = hash.fetch("at")?;
                hash.delete::<_, Value>("enqueued_at")?;
                (Some(score(ruby, at)?), dump(ruby, hash, &["at"])?)
            } else {
                hash.aset("enqueued_at", now)?;
                (None, dump(ruby, hash, &[])?)
            };
            let lock: Option<RArray> = locks.entry(i as isize)?;
            jobs.push(LockedPush {
                lock: lock.map(|lock| client_lock(ruby, lock)).transpose()?,
                at,
                payload,
            });
        }
        let stored = rb_self.round_trip(ruby, |conn| async move {
            unique_jobs::queue_and_lock(&conn, queue.as_deref(), &lock_time, &jobs).await
        })?;
        let out = ruby.ary_new_capa(stored.len());
        for flag in stored {
            out.push(flag)?;
        }
        Ok(out)
    }

    /// `push_bulk` for jobs that take a client lock each whose digest covers their own args
    /// (docs/design.md, §24): no Ruby Hash per job, the digest (MD5 of the plugin's JSON, whose
    /// text around the args Ruby wrote: `head` and `tail`) and the payload written here, and the
    /// locks and the push in one script (`lock_and_push`). `lock` is `[prefix, pttl_ms, score,
    /// limit, head, tail, lock_timeout, lock_ttl, texts]`, the same for every job, `texts` the
    /// template's Symbol values as Strings (`[[key, text], ...]`, as JSON writes them: `lock:
    /// :until_executed`). Each payload is the template with those, `args`, `jid`, the plugin's
    /// lock fields and `enqueued_at` set, as `Client#push_bulk` builds it. Returns
    /// `[jids, refused]`: the jids (nil where another job holds the lock) and `[jid, digest]` of
    /// each refused job; nil when a value needs Ruby's JSON writer (nothing was sent; the caller
    /// takes the general path).
    fn push_bulk_locked(
        ruby: &Ruby,
        rb_self: &Self,
        template: RHash,
        args: RArray,
        now: f64,
        lock: RArray,
    ) -> Result<Option<RArray>, Error> {
        let queue: String = template.fetch("queue")?;
        let prefix: RString = lock.entry(0)?;
        let pttl: i64 = lock.entry(1)?;
        let score = score(ruby, lock.entry(2)?)?;
        let limit: i64 = lock.entry(3)?;
        let head = bytes_of(lock.entry(4)?);
        let tail = bytes_of(lock.entry(5)?);
        let (lock_timeout, lock_ttl): (Value, Value) = (lock.entry(6)?, lock.entry(7)?);
        let texts: RArray = lock.entry(8)?;
        // Ruby values stay in Ruby arrays or on the stack, where the GC sees them.
        let mut text_keys = Vec::with_capacity(texts.len());
        for i in 0..texts.len() {
            let pair: RArray = texts.entry(i as isize)?;
            text_keys.push(pair.entry::<String>(0)?);
        }
        if text_keys.len() > MAX_TEXTS {
            return Ok(None);
        }
        let prefix_text = prefix.to_string()?;
        let lock_time = ruby_float(now)
            .ok_or_else(|| errors::argument_error(ruby, format!("not a finite time: {now}")))?;
        let now = ruby.float_from_f64(now).as_value();
        let fresh = new_jids(args.len()).map_err(|e| errors::runtime_error(ruby, &e))?;
        let mut jobs = Vec::with_capacity(args.len());
        let all_jids = ruby.ary_new_capa(args.len());
        for (i, jid) in fresh.into_iter().enumerate() {
            let job_args: Value = args.entry(i as isize)?;
            let mut text = Encoder::new(ruby);
            text.raw(&head);
            if text.payload_value(job_args).is_err() {
                return Ok(None);
            }
            text.raw(&tail);
            let digest = format!("{prefix_text}:{}", md5::hex(&text.finish()));
            let rb_jid = ruby.str_new(&jid);
            all_jids.push(rb_jid)?;
            let rb_digest = ruby.str_new(&digest);
            let own = [
                ("args", job_args),
                ("jid", rb_jid.as_value()),
                ("lock_timeout", lock_timeout),
                ("lock_ttl", lock_ttl),
                ("lock_prefix", prefix.as_value()),
                ("lock_args", job_args),
                ("lock_digest", rb_digest.as_value()),
                ("enqueued_at", now),
            ];
            let mut set = [("", now); MAX_TEXTS + 8];
            for (slot, (index, key)) in set.iter_mut().zip(text_keys.iter().enumerate()) {
                let pair: RArray = texts.entry(index as isize)?;
                *slot = (key.as_str(), pair.entry(1)?);
            }
            set[text_keys.len()..text_keys.len() + own.len()].copy_from_slice(&own);
            let fields = Fields {
                skip: &[],
                set: &set[..text_keys.len() + own.len()],
            };
            let mut encoder = Encoder::new(ruby);
            if encoder.payload(template, &fields).is_err() {
                return Ok(None);
            }
            jobs.push(LockedPush {
                lock: Some(ClientLock {
                    digest,
                    jid,
                    pttl,
                    score: score.clone(),
                    limit,
                    info: None,
                }),
                at: None,
                payload: encoder.finish(),
            });
        }
        let stored = rb_self.round_trip(ruby, |conn| async move {
            unique_jobs::queue_and_lock(&conn, Some(&queue), &lock_time, &jobs)
                .await
                .map(|stored| (stored, jobs))
        })?;
        let (stored, jobs) = stored;
        let out_jids = ruby.ary_new_capa(jobs.len());
        let refused = ruby.ary_new();
        for (i, (job, kept)) in jobs.iter().zip(stored).enumerate() {
            let rb_jid: Value = all_jids.entry(i as isize)?;
            if kept {
                out_jids.push(rb_jid)?;
            } else {
                out_jids.push(ruby.qnil())?;
                if let Some(lock) = &job.lock {
                    refused.push((rb_jid, lock.digest.as_str()))?;
                }
            }
        }
        Ok(Some(ruby.ary_new_from_values(&[
            out_jids.as_value(),
            refused.as_value(),
        ])))
    }

    /// Sends one command (an Array of Strings) and returns the reply as a Ruby value.
    fn call(ruby: &Ruby, rb_self: &Self, words: RArray) -> Result<Value, Error> {
        let words = command_words(words)?;
        let reply = rb_self.round_trip(ruby, |conn| async move {
            conn.call::<redis::Value>(&words).await
        })?;
        reply::to_ruby(ruby, reply)
    }

    /// Sends several commands in one round trip (inside MULTI/EXEC when `atomic`) and returns
    /// their replies in order.
    fn pipeline(
        ruby: &Ruby,
        rb_self: &Self,
        commands: RArray,
        atomic: bool,
    ) -> Result<RArray, Error> {
        let mut pipe = redis::Pipeline::with_capacity(commands.len());
        if atomic {
            pipe.atomic();
        }
        for i in 0..commands.len() {
            let words = command_words(commands.entry(i as isize)?)?;
            let cmd = ferrokiq_core::connection::command(&words)
                .map_err(|e| errors::redis_error(ruby, &e))?;
            pipe.add_command(cmd);
        }
        let replies = rb_self.round_trip(ruby, |conn| async move {
            if pipe.is_empty() {
                return Ok(Vec::new());
            }
            conn.pipeline::<Vec<redis::Value>>(&pipe).await
        })?;
        let out = ruby.ary_new_capa(replies.len());
        for reply in replies {
            out.push(reply::to_ruby(ruby, reply)?)?;
        }
        Ok(out)
    }
}

fn command_words(words: RArray) -> Result<Vec<Vec<u8>>, Error> {
    let mut out = Vec::with_capacity(words.len());
    for i in 0..words.len() {
        let word: RString = words.entry(i as isize)?;
        out.push(bytes_of(word));
    }
    Ok(out)
}

fn bytes_of(string: RString) -> Vec<u8> {
    // SAFETY: copied out at once, before any Ruby code can run.
    unsafe { string.as_slice() }.to_vec()
}

/// Every job Hash of `payloads` as `dump_stamped` writes it, `enqueued_at` being `now`.
fn dump_all_stamped(ruby: &Ruby, payloads: RArray, now: f64) -> Result<Vec<Vec<u8>>, Error> {
    let now = ruby.float_from_f64(now).as_value();
    let mut encoded = Vec::with_capacity(payloads.len());
    for i in 0..payloads.len() {
        let hash: RHash = payloads.entry(i as isize)?;
        encoded.push(dump_stamped(ruby, hash, now)?);
    }
    Ok(encoded)
}

/// A job Hash's JSON as queued, with `enqueued_at` = `now` written in the JSON only. The Hash
/// is not stamped: its middleware has run, and nothing reads it after the push. Stamping it cost
/// an allocation and a rehash per job, since a ninth key turns Ruby's small array of pairs into
/// a hash table, and a job Hash after a request-id middleware has eight (docs/performance.md,
/// §6). When the JSON needs Ruby's writer, the Hash takes the stamp first, as Sidekiq stamps it.
pub(crate) fn dump_stamped(ruby: &Ruby, hash: RHash, now: Value) -> Result<Vec<u8>, Error> {
    let mut encoder = Encoder::new(ruby);
    let set = [("enqueued_at", now)];
    match encoder.payload(
        hash,
        &Fields {
            skip: &[],
            set: &set,
        },
    ) {
        Ok(()) => Ok(encoder.finish()),
        Err(NeedsRuby) => {
            hash.aset("enqueued_at", now)?;
            Ok(bytes_of(encode::ruby_json(ruby, hash.as_value())?))
        }
    }
}

/// The payload's JSON without the `skip` keys: Rust's encoder when it can, Ruby's
/// `JSON.generate` otherwise (so that unusual values are written, or refused, exactly as
/// Sidekiq would).
pub(crate) fn dump(ruby: &Ruby, hash: RHash, skip: &[&str]) -> Result<Vec<u8>, Error> {
    let mut encoder = Encoder::new(ruby);
    match encoder.payload(hash, &Fields { skip, set: &[] }) {
        Ok(()) => Ok(encoder.finish()),
        Err(NeedsRuby) => {
            let target = match skip.first() {
                Some(key) => hash.funcall::<_, _, RHash>("except", (*key,))?,
                None => hash,
            };
            Ok(bytes_of(encode::ruby_json(ruby, target.as_value())?))
        }
    }
}

/// `[digest, jid, pttl_ms, score, limit, info_json_or_nil]` (see `lock_and_push`).
fn client_lock(ruby: &Ruby, lock: RArray) -> Result<ClientLock, Error> {
    let info: Option<RString> = lock.entry(5)?;
    Ok(ClientLock {
        digest: lock.entry(0)?,
        jid: lock.entry(1)?,
        pttl: lock.entry(2)?,
        score: score(ruby, lock.entry(3)?)?,
        limit: lock.entry(4)?,
        info: info.map(bytes_of),
    })
}

/// The ZSET score Sidekiq writes for `at`: `at.to_s` of a Float or Integer.
fn score(ruby: &Ruby, at: Value) -> Result<String, Error> {
    if let Some(int) = Integer::from_value(at) {
        return Ok(int.to_string());
    }
    let seconds = f64::try_convert(at)?;
    ruby_float(seconds).ok_or_else(|| {
        errors::argument_error(
            ruby,
            format!("Job 'at' must be a finite timestamp: {seconds}"),
        )
    })
}

pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    let class = native.define_class("Redis", ruby.class_object())?;
    class.define_singleton_method("new", magnus::function!(NativeRedis::new, 6))?;
    class.define_method("url", magnus::method!(NativeRedis::redacted_url, 0))?;
    class.define_method("push", magnus::method!(NativeRedis::push, 3))?;
    class.define_method(
        "push_through",
        magnus::method!(push_stream::push_through, 4),
    )?;
    class.define_method("schedule", magnus::method!(NativeRedis::schedule, 1))?;
    class.define_method("push_bulk", magnus::method!(NativeRedis::push_bulk, 5))?;
    class.define_method(
        "push_bulk_locked",
        magnus::method!(NativeRedis::push_bulk_locked, 4),
    )?;
    class.define_method(
        "lock_and_push",
        magnus::method!(NativeRedis::lock_and_push, 3),
    )?;
    class.define_method("call", magnus::method!(NativeRedis::call, 1))?;
    class.define_method("pipeline", magnus::method!(NativeRedis::pipeline, 2))?;
    Ok(())
}
