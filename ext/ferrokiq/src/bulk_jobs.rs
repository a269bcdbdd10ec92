//! `Ferrokiq::Native.bulk_jobs(template, slice, jid, at)`: the job Hashes of a bulk push whose
//! client middleware must see one Hash per job. Built here, in one call per slice, they cost
//! about half of what `template.dup` plus three `[]=` per job cost in Ruby
//! (docs/performance.md, §6).

use magnus::rb_sys::{AsRawValue, FromRawValue};
use magnus::{prelude::*, Error, RArray, RHash, Ruby, Value};

use crate::errors;
use crate::interned::interned_utf8;

/// Pairs a job Hash can take beyond its template's before its table must grow: a client
/// middleware usually adds one to three (a request id, a tenant, a trace context).
const SPARE_PAIRS: usize = 4;

/// Ruby keeps a Hash of at most this many pairs in a flat array, not in a hash table.
const FLAT_HASH_MAX_PAIRS: usize = 8;

/// One Hash per element of `slice`: a copy of `template` (keys in its order) whose `args` is the
/// element, whose `jid` is `jid` or a fresh one, and, when `at` is an Array (one per job) or a
/// timestamp, whose `at` is that job's; the same Hashes as `template.merge(own)` in Sidekiq.
fn bulk_jobs(
    ruby: &Ruby,
    template: RHash,
    slice: RArray,
    jid: Option<Value>,
    at: Value,
) -> Result<RArray, Error> {
    let count = slice.len();
    let mut fresh = match jid {
        Some(_) => Vec::new(),
        None => {
            ferrokiq_core::payload::new_jids(count).map_err(|e| errors::runtime_error(ruby, &e))?
        }
    }
    .into_iter();
    let per_job_at = RArray::from_value(at);
    // Frozen, interned keys: each Hash stores them as they are, with no copy per job.
    // SAFETY: UTF-8 literals, under the GVL.
    let (args_key, jid_key, at_key) = unsafe {
        (
            interned_utf8(b"args"),
            interned_utf8(b"jid"),
            interned_utf8(b"at"),
        )
    };
    let template = roomy_copy(ruby, template)?;
    let jobs = ruby.ary_new_capa(count);
    for i in 0..count {
        let job_args: Value = slice.entry(i as isize)?;
        // `fresh` holds one jid per job when none was given.
        let job_jid = match jid {
            Some(given) => given,
            None => ruby.str_new(&fresh.next().unwrap_or_default()).as_value(),
        };
        let job_at: Value = match per_job_at {
            Some(all) => all.entry(i as isize)?,
            None => at,
        };
        // SAFETY: under the GVL; the copy is a new, unfrozen Hash and every key is a frozen
        // String, so neither the copy nor the stores call Ruby code or raise (short of memory).
        let job = unsafe {
            let job = rb_sys::rb_hash_dup(template.as_raw());
            rb_sys::rb_hash_aset(job, args_key, job_args.as_raw());
            rb_sys::rb_hash_aset(job, jid_key, job_jid.as_raw());
            if job_at.to_bool() {
                rb_sys::rb_hash_aset(job, at_key, job_at.as_raw());
            }
            Value::from_raw(job)
        };
        jobs.push(job)?;
    }
    Ok(jobs)
}

/// `template`'s pairs, in order, in a Hash whose table has room for `SPARE_PAIRS` more, so that
/// each job's copy has it too. Copied from a flat Hash of 7 pairs (the usual job), a job moved
/// to a hash table at the ninth pair a middleware added, then grew that table: two passes
/// re-hashing every key, which cost more than building the Hash (docs/performance.md, §6).
/// A table keeps its room when cleared; the room is made by filling it with Integer keys.
fn roomy_copy(ruby: &Ruby, template: RHash) -> Result<RHash, Error> {
    let roomy = ruby.hash_new();
    let room = (template.len() + SPARE_PAIRS).max(FLAT_HASH_MAX_PAIRS + 1);
    for filler in 0..room {
        roomy.aset(filler, true)?;
    }
    roomy.funcall::<_, _, Value>("clear", ())?;
    // Hash#update stores into the table as it is, keeping its room and the template's order.
    roomy.funcall::<_, _, Value>("update", (template,))?;
    Ok(roomy)
}

pub fn init(native: &magnus::RModule) -> Result<(), Error> {
    native.define_singleton_method("bulk_jobs", magnus::function!(bulk_jobs, 4))
}
