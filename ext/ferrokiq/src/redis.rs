//! `Ferrokiq::Native::Redis`: one Redis server as the Ruby side sees it. The client's pushes and
//! the generic command interface behind `Sidekiq.redis { |conn| ... }` both go through here.
//!
//! The connection belongs to the process that opened it: a forked child (Puma, Unicorn workers)
//! opens its own on first use, because the parent's socket and runtime are not usable there.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokiq_core::json::ruby_float;
use ferrokiq_core::payload::now_epoch_seconds;
use ferrokiq_core::{client, RedisConnection, RedisSettings};
use magnus::{
    prelude::*, Error, Integer, RArray, RHash, RModule, RString, Ruby, TryConvert, Value,
};

use crate::encode::{Encoder, NeedsRuby};
use crate::{errors, gvl, reply};

#[magnus::wrap(class = "Ferrokiq::Native::Redis", free_immediately, size)]
pub struct NativeRedis {
    settings: RedisSettings,
    connection: Mutex<Option<(u32, Arc<RedisConnection>)>>,
}

impl NativeRedis {
    /// `Redis.new(url, username, password, db, timeout_seconds)`; nil means "not given".
    fn new(
        ruby: &Ruby,
        url: String,
        username: Option<String>,
        password: Option<String>,
        db: Option<i64>,
        timeout: f64,
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
        };
        // Validate now, so a bad URL fails at configuration time rather than at the first push.
        RedisConnection::new(settings.clone()).map_err(|e| errors::redis_error(ruby, &e))?;
        Ok(NativeRedis {
            settings,
            connection: Mutex::new(None),
        })
    }

    fn connection(&self, ruby: &Ruby) -> Result<Arc<RedisConnection>, Error> {
        let mut slot = self
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let pid = std::process::id();
        if let Some((owner, conn)) = slot.as_ref() {
            if *owner == pid {
                return Ok(Arc::clone(conn));
            }
        }
        if let Some(stale) = slot.take() {
            // Inherited from the parent: its socket and tasks belong to a runtime that does not
            // exist in this process, so it must not be dropped (or used) here.
            std::mem::forget(stale);
        }
        let conn = Arc::new(
            RedisConnection::new(self.settings.clone())
                .map_err(|e| errors::redis_error(ruby, &e))?,
        );
        *slot = Some((pid, Arc::clone(&conn)));
        Ok(conn)
    }

    fn redacted_url(&self) -> String {
        self.settings.redacted_url()
    }

    /// Enqueues job Hashes on `queue` for immediate work. Sets `enqueued_at` on each Hash, as
    /// Sidekiq does, then writes them all in one round trip. Nothing is sent unless every
    /// payload could be serialized.
    fn push(ruby: &Ruby, rb_self: &Self, queue: String, payloads: RArray) -> Result<bool, Error> {
        let now = ruby.float_from_f64(now_epoch_seconds());
        let mut encoded = Vec::with_capacity(payloads.len());
        for i in 0..payloads.len() {
            let hash: RHash = payloads.entry(i as isize)?;
            hash.aset("enqueued_at", now)?;
            encoded.push(dump(ruby, hash, None)?);
        }
        let conn = rb_self.connection(ruby)?;
        gvl::wait_for(ruby, async move {
            client::push_to_queue(&conn, &queue, &encoded).await
        })?;
        Ok(true)
    }

    /// Schedules job Hashes by their `at`: `ZADD schedule`, with `at` only in the score and no
    /// `enqueued_at` in the stored JSON.
    fn schedule(ruby: &Ruby, rb_self: &Self, payloads: RArray) -> Result<bool, Error> {
        let mut entries = Vec::with_capacity(payloads.len());
        for i in 0..payloads.len() {
            let hash: RHash = payloads.entry(i as isize)?;
            let at: Value = hash.fetch("at")?;
            hash.delete::<_, Value>("enqueued_at")?;
            entries.push((score(ruby, at)?, dump(ruby, hash, Some("at"))?));
        }
        let conn = rb_self.connection(ruby)?;
        gvl::wait_for(ruby, async move {
            client::push_to_schedule(&conn, &entries).await
        })?;
        Ok(true)
    }

    /// Sends one command (an Array of Strings) and returns the reply as a Ruby value.
    fn call(ruby: &Ruby, rb_self: &Self, words: RArray) -> Result<Value, Error> {
        let words = command_words(words)?;
        let conn = rb_self.connection(ruby)?;
        let reply = gvl::wait_for(ruby, async move { conn.call::<redis::Value>(&words).await })?;
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
        let conn = rb_self.connection(ruby)?;
        let replies = gvl::wait_for(ruby, async move {
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

/// The payload's JSON: Rust's encoder when it can, Ruby's `JSON.generate` otherwise (so that
/// unusual values are written, or refused, exactly as Sidekiq would).
fn dump(ruby: &Ruby, hash: RHash, skip: Option<&str>) -> Result<Vec<u8>, Error> {
    let mut encoder = Encoder::new(ruby);
    let skip: &[&str] = match &skip {
        Some(key) => std::slice::from_ref(key),
        None => &[],
    };
    match encoder.payload(hash, skip) {
        Ok(()) => Ok(encoder.finish()),
        Err(NeedsRuby) => {
            let target = match skip.first() {
                Some(key) => hash.funcall::<_, _, RHash>("except", (*key,))?,
                None => hash,
            };
            let json: RModule = ruby.class_object().const_get("JSON")?;
            let text: RString = json.funcall("generate", (target,))?;
            Ok(bytes_of(text))
        }
    }
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
    class.define_singleton_method("new", magnus::function!(NativeRedis::new, 5))?;
    class.define_method("url", magnus::method!(NativeRedis::redacted_url, 0))?;
    class.define_method("push", magnus::method!(NativeRedis::push, 2))?;
    class.define_method("schedule", magnus::method!(NativeRedis::schedule, 1))?;
    class.define_method("call", magnus::method!(NativeRedis::call, 1))?;
    class.define_method("pipeline", magnus::method!(NativeRedis::pipeline, 2))?;
    Ok(())
}
