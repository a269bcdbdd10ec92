//! The `ferrokiq` native library: a thin magnus binding over `ferrokiq-core`. Ruby owns the
//! public API (lib/sidekiq/*.rb); this exposes the few primitives it needs under
//! `Ferrokiq::Native`.

mod bulk_jobs;
mod dead_set;
mod encode;
mod engine;
mod errors;
mod gvl;
mod hash_iter;
mod interned;
mod iteration;
mod job_json;
mod log_writer;
mod memory_limit;
mod operations;
mod push_ahead;
mod push_stream;
mod redis;
mod reply;
mod runtime;
mod search;
mod wakeup;
mod web_data;

use magnus::{prelude::*, Error, Ruby, Value};

/// Rust's allocations come from mimalloc, not glibc: a log line or an acknowledgement made on a
/// worker thread and freed on the core's threads took the worker's glibc arena lock from there,
/// and the worker paid a futex wake for it on every contended unlock (docs/performance.md,
/// §3.2). Ruby's own objects stay with glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `Ferrokiq::Native.json_unsafe(args)`: Sidekiq 7's strict-args check.
fn json_unsafe(ruby: &Ruby, args: Value) -> Option<Value> {
    encode::first_unsafe(ruby, args)
}

/// `Ferrokiq::Native.jid`: a new 24-hex-digit job id.
fn jid(ruby: &Ruby) -> Result<String, Error> {
    ferrokiq_core::payload::new_jid().map_err(|e| errors::runtime_error(ruby, &e))
}

/// `Ferrokiq::Native.limit_malloc_arenas(count)`: glibc's `M_ARENA_MAX` for this process
/// (true when set; false where the C library is not glibc).
fn limit_malloc_arenas(count: i32) -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes the allocator's tuning; any thread may call it.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, count) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = count;
        false
    }
}

/// `Ferrokiq::Native.dump_json(value)`: `JSON.generate(value)`, done in Rust when it can be.
fn dump_json(ruby: &Ruby, value: Value) -> Result<magnus::RString, Error> {
    let mut encoder = encode::Encoder::new(ruby);
    match encoder.payload_value(value) {
        Ok(()) => Ok(ruby.enc_str_new(encoder.finish(), ruby.utf8_encoding())),
        Err(encode::NeedsRuby) => encode::ruby_json(ruby, value),
    }
}

/// `Ferrokiq::Native.normalize_json(text)`: parses a payload with Ferrokiq's payload model and
/// writes it back as Ruby would (for checking that reading and writing loses nothing).
fn normalize_json(ruby: &Ruby, text: String) -> Result<String, Error> {
    let payload = ferrokiq_core::Payload::parse(&text)
        .map_err(|e| errors::argument_error(ruby, e.to_string()))?;
    payload
        .to_json()
        .map_err(|e| errors::argument_error(ruby, e.to_string()))
}

/// `Ferrokiq::Native.periodic_next(name, entry_json, since, now)`: the first tick after `now` of
/// the `schedules` entry `name` registered at `since`, computed as the server's scheduler does
/// (for the Web UI's "next run"); nil when no tick is left. A rule the scheduler cannot read is an
/// ArgumentError with its reason.
fn periodic_next(
    ruby: &Ruby,
    name: String,
    entry: String,
    since: f64,
    now: f64,
) -> Result<Option<f64>, Error> {
    let entry: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&entry).map_err(|e| errors::argument_error(ruby, e.to_string()))?;
    let rule = ferrokiq_core::periodic::Rule::from_entry(&name, &entry)
        .map_err(|e| errors::argument_error(ruby, e))?;
    rule.check(since)
        .map_err(|e| errors::argument_error(ruby, e))?;
    Ok(rule.next(since, now))
}

/// `Ferrokiq::Native.natural_crons(text)`: the cron lines a natural-language cron stands for;
/// an ArgumentError saying which word was not understood otherwise.
fn natural_crons(ruby: &Ruby, text: String) -> Result<Vec<String>, Error> {
    ferrokiq_core::periodic::natural_crons(&text).map_err(|e| errors::argument_error(ruby, e))
}

#[magnus::init]
fn init(ruby: &Ruby) -> Result<(), Error> {
    runtime::watch_forks();
    let ferrokiq = ruby.define_module("Ferrokiq")?;
    let native = ferrokiq.define_module("Native")?;
    native.define_singleton_method("json_unsafe", magnus::function!(json_unsafe, 1))?;
    native.define_singleton_method("jid", magnus::function!(jid, 0))?;
    native.define_singleton_method(
        "limit_malloc_arenas",
        magnus::function!(limit_malloc_arenas, 1),
    )?;
    native.define_singleton_method("dump_json", magnus::function!(dump_json, 1))?;
    native.define_singleton_method("normalize_json", magnus::function!(normalize_json, 1))?;
    native.define_singleton_method("load_job", magnus::function!(job_json::load_job, 1))?;
    native.define_singleton_method("periodic_next", magnus::function!(periodic_next, 4))?;
    native.define_singleton_method("natural_crons", magnus::function!(natural_crons, 1))?;
    redis::init(ruby, &native)?;
    search::init(&native)?;
    bulk_jobs::init(&native)?;
    push_ahead::init(&native)?;
    dead_set::init(&native)?;
    web_data::init(&native)?;
    engine::init(ruby, &native)?;
    log_writer::init(ruby, &native)?;
    iteration::init(ruby, &native)?;
    operations::init(ruby, &native)?;
    memory_limit::init(ruby, &native)?;
    Ok(())
}
