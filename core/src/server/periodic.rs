//! Periodic jobs on the server: the scheduler lease holder (see `scheduler.rs`) pushes each
//! entry of sidekiq-scheduler's `schedules` hash at its ticks (docs/design.md, "Periodic jobs").
//!
//! Exactly once per tick: the push is one script that claims the tick in the entry's
//! `sidekiq-scheduler:pushed:<name>` set (the plugin's own key, so Ruby sidekiq-scheduler hosts
//! in a mixed fleet deduplicate with us) and in `ferrokiq:periodic:last` (the latest tick pushed
//! per entry), and pushes the job only when both claims are new. The lease makes one process do
//! the work; the claim keeps a lease handover (or a late process) from pushing twice.
//!
//! A tick missed while no process ran (or while the lease changed hands) is pushed once when
//! it is at most `GRACE` old; only the latest missed tick, so there is never a burst.
//! `every`/`in` count from when the entry was registered (`ferrokiq:periodic:since`), so they are
//! cluster-wide and survive restarts, unlike the plugin's per-host timers.

use std::collections::HashMap;
use std::sync::LazyLock;

use crossbeam_channel::Sender;
use futures_util::future::join_all;
use redis::Script;
use serde_json::{Map, Number, Value};

use crate::connection::RedisConnection;
use crate::error::RedisResult;
use crate::json;
use crate::payload::new_jid;
use crate::periodic::{scheduler_time, Rule};
use crate::server::hand_off::{self, ClaimedJob, PERIODIC};
use crate::server::keys;
use crate::server::scheduler::requeued_payload;

pub const SCHEDULES: &str = "schedules";
pub const SCHEDULES_CHANGED: &str = "schedules_changed";
pub const STATES: &str = "sidekiq-scheduler:states";
pub const LAST_TIMES: &str = "sidekiq-scheduler:last_times";
pub const NEXT_TIMES: &str = "sidekiq-scheduler:next_times";
pub const LAST_TICKS: &str = "ferrokiq:periodic:last";
pub const SINCE: &str = "ferrokiq:periodic:since";
/// Ticks pushed per entry with rufus' `times` (docs/design.md, §5.1).
pub const RUNS: &str = "ferrokiq:periodic:runs";
/// How late a missed tick may still be pushed (sidekiq-cron's default grace period).
pub const GRACE: f64 = 60.0;
/// Reread the whole schedule at least this often, even when `schedules_changed` did not move.
const RELOAD_EVERY: f64 = 30.0;
/// The most tick claims in flight at once in a pass.
const CLAIMS_AT_ONCE: usize = 1_000;

pub fn pushed_key(name: &str) -> String {
    format!("sidekiq-scheduler:pushed:{name}")
}

// The tick's claim, shared by both scripts: returns 0 unless this call claimed the tick.
// KEYS: pushed set, last-tick hash, last_times, next_times, runs.
// ARGV: name, tick (member and score), queue, payload, now, last time text, next time text,
// the entry's `times` ('' when unlimited), which its count in runs must stay under.
macro_rules! claim_tick {
    () => {
        r"
if ARGV[8] ~= '' and tonumber(redis.call('HGET', KEYS[5], ARGV[1]) or '0') >= tonumber(ARGV[8]) then
  return 0
end
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1')
if last >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local fresh = redis.call('ZADD', KEYS[1], ARGV[2], ARGV[2])
redis.call('EXPIRE', KEYS[1], 86400)
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, tonumber(ARGV[5]) - 86400)
if ARGV[7] ~= '' then redis.call('HSET', KEYS[4], ARGV[1], ARGV[7]) end
if fresh == 0 then return 0 end
if ARGV[8] ~= '' then redis.call('HINCRBY', KEYS[5], ARGV[1], 1) end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[6])
"
    };
}

// The claimed tick's job goes to its queue.
const CLAIM_AND_PUSH: &str = concat!(
    claim_tick!(),
    r"
redis.call('SADD', 'queues', ARGV[3])
redis.call('LPUSH', 'queue:' .. ARGV[3], ARGV[4])
return 1
"
);

// The claimed tick's job goes onto this process's periodic hand-off list, for Ruby's client
// middleware (docs/design.md, §5.2). KEYS[6]: that list, KEYS[7]: the hand-off registry.
// ARGV[3] is unused (the middleware picks the queue); ARGV[9]: the registry value's
// `identity \n periodic` head.
const CLAIM_FOR_HAND_OFF: &str = concat!(
    claim_tick!(),
    r"
redis.call('LPUSH', KEYS[6], ARGV[4])
redis.call('HSET', KEYS[7], KEYS[6], ARGV[9] .. '\n' .. redis.call('TIME')[1])
return 1
"
);

static CLAIM_AND_PUSH_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CLAIM_AND_PUSH));
static CLAIM_FOR_HAND_OFF_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(CLAIM_FOR_HAND_OFF));

/// Keys of an entry that describe the schedule, not the job.
const SCHEDULE_KEYS: [&str; 12] = [
    "cron",
    "every",
    "interval",
    "at",
    "in",
    "description",
    "enabled",
    "include_metadata",
    "date_as_argument",
    "rails_env",
    "keyword_argument",
    "name",
];

/// One entry ready to tick.
#[derive(Debug)]
pub struct Entry {
    pub name: String,
    pub rule: Rule,
    /// Epoch second the entry was registered.
    pub since: f64,
    enabled_by_default: bool,
    include_metadata: bool,
    /// sidekiq-cron's `date_as_argument`: the tick's epoch seconds (a Float) end the args.
    date_as_argument: bool,
    /// The job asks for a unique-job lock, which only Ruby's client can take (docs/design.md,
    /// §5.1): its ticks go through the hand-off even without client middleware.
    locked: bool,
    /// The job as pushed, before `jid`/`enqueued_at`.
    template: Map<String, Value>,
    /// After a pass that handled its due tick: the next tick (None: no more ticks). Until then
    /// a pass skips the entry, so 10,000 entries cost little between their ticks.
    upcoming: Option<Option<f64>>,
}

fn truthy(value: Option<&Value>, default: bool) -> bool {
    match value {
        None | Some(Value::Null) => default,
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => !matches!(text.as_str(), "false" | "0" | ""),
        Some(_) => true,
    }
}

impl Entry {
    pub fn parse(name: &str, json: &[u8], since: f64) -> Result<Self, String> {
        let Value::Object(config) = serde_json::from_slice(json).map_err(|e| e.to_string())? else {
            return Err("not a JSON object".to_string());
        };
        let rule = Rule::from_entry(name, &config)?;
        rule.check(since)?;
        let mut template = Map::new();
        template.insert(
            "class".into(),
            config
                .get("class")
                .cloned()
                .unwrap_or_else(|| Value::String(name.to_string())),
        );
        let args = match config.get("args") {
            None | Some(Value::Null) => Value::Array(vec![]),
            Some(Value::Array(args)) => Value::Array(args.clone()),
            Some(other) => Value::Array(vec![other.clone()]),
        };
        template.insert("args".into(), args);
        for (key, value) in &config {
            if !SCHEDULE_KEYS.contains(&key.as_str()) && !template.contains_key(key) {
                template.insert(key.clone(), value.clone());
            }
        }
        Ok(Self {
            name: name.to_string(),
            rule,
            since,
            enabled_by_default: truthy(config.get("enabled"), true),
            include_metadata: truthy(config.get("include_metadata"), false),
            date_as_argument: truthy(config.get("date_as_argument"), false),
            locked: truthy(template.get("lock"), false),
            template,
            upcoming: None,
        })
    }

    /// Whether a tick's job must go through Ruby: client middleware is configured, or the job
    /// takes a lock at push.
    pub fn needs_ruby(&self, middleware: bool) -> bool {
        middleware || self.locked
    }

    /// The job for a tick, as Sidekiq's client would push it.
    pub fn payload(
        &self,
        tick: f64,
        defaults: &Map<String, Value>,
        now: f64,
    ) -> Result<(String, Vec<u8>), String> {
        let bytes =
            serde_json::to_vec(&Value::Object(self.job(tick))).map_err(|e| e.to_string())?;
        requeued_payload(&bytes, defaults, now)
    }

    /// The job for a tick as handed to Ruby, which pushes it as `Sidekiq::Client#push` does
    /// (the class's options, the middleware, a lock): the entry's own keys and a `jid`, so that
    /// the claimed bytes are unique, and nothing the client adds itself.
    pub fn hand_off_member(&self, tick: f64) -> Result<Vec<u8>, String> {
        let mut job = self.job(tick);
        job.insert(
            "jid".into(),
            Value::String(new_jid().map_err(|e| e.to_string())?),
        );
        let mut out = Vec::with_capacity(128);
        json::write_object(&mut out, &job).map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// The entry's job with this tick's metadata, before the client's normalisation.
    fn job(&self, tick: f64) -> Map<String, Value> {
        let mut job = self.template.clone();
        if self.date_as_argument {
            if let (Some(Value::Array(args)), Some(date)) =
                (job.get_mut("args"), Number::from_f64(tick))
            {
                args.push(Value::Number(date));
            }
        }
        if self.include_metadata {
            if let Some(Value::Array(args)) = job.get_mut("args") {
                let mut metadata = Map::new();
                let scheduled_at = Number::from_f64((tick * 1000.0).round() / 1000.0)
                    .map(Value::Number)
                    .unwrap_or(Value::Null);
                metadata.insert("scheduled_at".into(), scheduled_at);
                args.push(Value::Object(metadata));
            }
        }
        job
    }
}

/// `schedules`, `ferrokiq:periodic:since` and `:runs`.
type ChangedSchedule = (
    HashMap<String, Vec<u8>>,
    HashMap<String, f64>,
    HashMap<String, u64>,
);

/// The newest `schedules_changed` member, the size of `schedules`, and the Web UI toggles.
type ChangeMarks = (Vec<(String, f64)>, u64, HashMap<String, Vec<u8>>);

/// The schedule as the lease holder last read it.
#[derive(Debug, Default)]
pub struct Schedule {
    pub entries: Vec<Entry>,
    /// Entries that cannot tick, and why (reported once per reload).
    pub invalid: Vec<(String, String)>,
    /// Ticks pushed so far per entry with a `times` limit (read at reload, counted on after
    /// each claim; the claim script holds the limit in any case).
    runs: HashMap<String, u64>,
    /// What `schedules_changed` and `schedules` looked like when read.
    fingerprint: Option<(Option<f64>, u64)>,
    read_at: f64,
}

/// What one periodic pass did.
#[derive(Debug, Default)]
pub struct Tick {
    pub pushed: usize,
    /// Entries that could not be turned into a job this pass, and why.
    pub invalid: Vec<(String, String)>,
    /// The earliest tick still to come.
    pub next_due: Option<f64>,
    /// Whether the schedule was read again (its problems are then in `Schedule::invalid`).
    pub reloaded: bool,
    /// A tick for Ruby found the hand-off full: it is tried again once Ruby takes a job.
    pub full: bool,
}

/// Where a tick's job goes when Ruby must see it (docs/design.md, §5.1): claimed onto this
/// process's `periodic` hand-off list and sent to the thread that runs the client middleware.
#[derive(Clone, Copy)]
pub struct HandOff<'a> {
    pub identity: &'a str,
    pub to_ruby: &'a Sender<ClaimedJob>,
    /// Client middleware is configured: every tick goes to Ruby, not only those of locked jobs.
    pub middleware: bool,
}

fn tick_member(tick: f64) -> String {
    if tick.fract() == 0.0 {
        format!("{}", tick as i64)
    } else {
        format!("{tick:.3}")
    }
}

impl Schedule {
    /// Rereads the entries when the schedule changed (or every `RELOAD_EVERY`), registering
    /// a `since` for each new entry. Returns whether it reread them, and the Web UI toggles
    /// (read on every pass).
    async fn refresh(
        &mut self,
        conn: &RedisConnection,
        now: f64,
    ) -> RedisResult<(bool, HashMap<String, bool>)> {
        let mut pipe = redis::Pipeline::new();
        pipe.cmd("ZRANGE")
            .arg(SCHEDULES_CHANGED)
            .arg(-1)
            .arg(-1)
            .arg("WITHSCORES");
        pipe.cmd("HLEN").arg(SCHEDULES);
        pipe.cmd("HGETALL").arg(STATES);
        let (changed, count, states): ChangeMarks = conn.pipeline(&pipe).await?;
        let fingerprint = Some((changed.first().map(|(_, score)| *score), count));
        let stale = now - self.read_at >= RELOAD_EVERY;
        let mut reloaded = false;
        if fingerprint != self.fingerprint || stale {
            self.reload(conn, now).await?;
            self.fingerprint = fingerprint;
            self.read_at = now;
            reloaded = true;
        }
        // `{"enabled":false}` written by a Web UI toggle overrides the entry's own `enabled`.
        let toggles = states
            .into_iter()
            .filter_map(|(name, state)| {
                let state: Value = serde_json::from_slice(&state).ok()?;
                Some((name, state.get("enabled")?.as_bool()?))
            })
            .collect();
        Ok((reloaded, toggles))
    }

    async fn reload(&mut self, conn: &RedisConnection, now: f64) -> RedisResult<()> {
        let mut pipe = redis::Pipeline::new();
        pipe.cmd("HGETALL").arg(SCHEDULES);
        pipe.cmd("HGETALL").arg(SINCE);
        pipe.cmd("HGETALL").arg(RUNS);
        let (configs, since, runs): ChangedSchedule = conn.pipeline(&pipe).await?;
        let mut register = redis::Pipeline::new();
        let mut entries = Vec::with_capacity(configs.len());
        let mut invalid = Vec::new();
        let registered_now = now.floor();
        for (name, json) in configs {
            let since = match since.get(&name) {
                Some(since) => *since,
                None => {
                    register
                        .cmd("HSETNX")
                        .arg(SINCE)
                        .arg(&name)
                        .arg(registered_now);
                    registered_now
                }
            };
            match Entry::parse(&name, &json, since) {
                Ok(entry) => entries.push(entry),
                Err(why) => invalid.push((name, why)),
            }
        }
        // A field a concurrent writer removed is dropped again by the next reload.
        let stale: Vec<&String> = since
            .keys()
            .filter(|name| !entries.iter().any(|e| &e.name == *name))
            .filter(|name| !invalid.iter().any(|(n, _)| n == *name))
            .collect();
        for name in stale {
            register.cmd("HDEL").arg(SINCE).arg(name);
            register.cmd("HDEL").arg(RUNS).arg(name);
        }
        if !register.is_empty() {
            conn.pipeline::<()>(&register).await?;
            // HSETNX may have lost to another process: take the value that won.
            let fresh: HashMap<String, f64> = conn
                .call(&[b"HGETALL".to_vec(), SINCE.as_bytes().to_vec()])
                .await?;
            for entry in &mut entries {
                if let Some(since) = fresh.get(&entry.name) {
                    entry.since = *since;
                }
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        self.entries = entries;
        self.invalid = invalid;
        self.runs = runs;
        Ok(())
    }

    /// Pushes each due tick once (or claims it for Ruby); reports the earliest tick to come.
    ///
    /// The claims of all the ticks due in a pass are sent together, up to `CLAIMS_AT_ONCE` at a
    /// time, over the multiplexed connection: ticks due at the same moment (every entry of a
    /// `* * * * *` cron, or thousands of schedules) then wait for one round trip, not for one
    /// each in turn.
    pub async fn pass(
        &mut self,
        conn: &RedisConnection,
        defaults: &Map<String, Value>,
        hand_off: HandOff<'_>,
        now: f64,
    ) -> RedisResult<Tick> {
        let (reloaded, toggles) = self.refresh(conn, now).await?;
        let mut tick = Tick {
            reloaded,
            ..Tick::default()
        };
        let claims = self.plan(defaults, hand_off, &toggles, now, &mut tick);
        let mut failure = None;
        for batch in claims.chunks(CLAIMS_AT_ONCE) {
            let replies = join_all(
                batch
                    .iter()
                    .map(|claim| conn.invoke::<usize>(&claim.invocation)),
            )
            .await;
            for (claim, reply) in batch.iter().zip(replies) {
                match reply {
                    Ok(claimed) => {
                        if claim.to_ruby && claimed == 1 {
                            // Room was counted when planning and only this task sends; a job
                            // that cannot be sent (the engine is going away) stays claimed,
                            // and the exit puts it back.
                            let _ = hand_off.to_ruby.try_send(ClaimedJob {
                                set: PERIODIC.to_string(),
                                member: claim.payload.clone(),
                            });
                        }
                        tick.pushed += claimed;
                        if claimed == 1 && claim.counted {
                            let entry = &self.entries[claim.entry];
                            *self.runs.entry(entry.name.clone()).or_default() += 1;
                        }
                        // Only once the due tick is handled: a failed claim is tried again
                        // next pass.
                        self.entries[claim.entry].upcoming = Some(claim.next);
                    }
                    Err(error) => failure = failure.or(Some(error)),
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(tick),
        }
    }

    /// The claims this pass must send, one per due tick; entries with nothing due only report
    /// their next tick.
    fn plan(
        &mut self,
        defaults: &Map<String, Value>,
        hand_off: HandOff<'_>,
        toggles: &HashMap<String, bool>,
        now: f64,
        tick: &mut Tick,
    ) -> Vec<Claim> {
        let mut room = hand_off::room(hand_off.to_ruby);
        let mut claims = Vec::new();
        for (index, entry) in self.entries.iter_mut().enumerate() {
            match entry.upcoming {
                Some(Some(next)) if now < next => {
                    tick.next_due = Some(tick.next_due.map_or(next, |due: f64| due.min(next)));
                    continue;
                }
                Some(None) => continue,
                _ => {}
            }
            let times = entry.rule.times();
            let runs = self.runs.get(&entry.name).copied().unwrap_or(0);
            if times.is_some_and(|times| runs >= times) {
                // rufus' `times` reached: the entry never ticks again.
                entry.upcoming = Some(None);
                continue;
            }
            let next = entry.rule.next(entry.since, now);
            if let Some(next) = next {
                tick.next_due = Some(tick.next_due.map_or(next, |due: f64| due.min(next)));
            }
            let enabled = toggles
                .get(&entry.name)
                .copied()
                .unwrap_or(entry.enabled_by_default);
            let due = entry
                .rule
                .previous(entry.since, now)
                .filter(|due| enabled && now - due <= GRACE);
            let Some(due) = due else {
                entry.upcoming = Some(next);
                continue;
            };
            let to_ruby = entry.needs_ruby(hand_off.middleware);
            if to_ruby {
                if room == 0 {
                    // Not handled: the next pass tries the tick again.
                    tick.full = true;
                    continue;
                }
                room -= 1;
            }
            let built = if to_ruby {
                entry
                    .hand_off_member(due)
                    .map(|member| (String::new(), member))
            } else {
                entry.payload(due, defaults, now)
            };
            let (queue, payload) = match built {
                Ok(job) => job,
                Err(why) => {
                    tick.invalid.push((entry.name.clone(), why));
                    entry.upcoming = Some(next);
                    continue;
                }
            };
            let script = if to_ruby {
                &*CLAIM_FOR_HAND_OFF_SCRIPT
            } else {
                &*CLAIM_AND_PUSH_SCRIPT
            };
            let mut invocation = script.prepare_invoke();
            invocation
                .key(pushed_key(&entry.name))
                .key(LAST_TICKS)
                .key(LAST_TIMES)
                .key(NEXT_TIMES)
                .key(RUNS)
                .arg(&entry.name)
                .arg(tick_member(due))
                .arg(&queue)
                .arg(&payload)
                .arg(now)
                .arg(scheduler_time(due))
                .arg(next.map(scheduler_time).unwrap_or_default())
                .arg(times.map(|times| times.to_string()).unwrap_or_default());
            if to_ruby {
                invocation
                    .key(keys::hand_off(hand_off.identity, PERIODIC))
                    .key(keys::HAND_OFF_REGISTRY)
                    .arg(format!("{}\n{PERIODIC}", hand_off.identity));
            }
            claims.push(Claim {
                entry: index,
                counted: times.is_some(),
                to_ruby,
                payload,
                invocation,
                next,
            });
        }
        claims
    }
}

/// One due tick's claim, planned before any is sent.
struct Claim {
    entry: usize,
    /// The entry has a `times` limit, so a pushed tick counts.
    counted: bool,
    to_ruby: bool,
    payload: Vec<u8>,
    invocation: redis::ScriptInvocation<'static>,
    next: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Map<String, Value> {
        serde_json::from_str(r#"{"retry":true,"queue":"default"}"#).unwrap()
    }

    fn job(entry: &Entry, tick: f64) -> Value {
        let (_, payload) = entry.payload(tick, &defaults(), tick + 0.01).unwrap();
        serde_json::from_slice(&payload).unwrap()
    }

    #[test]
    fn builds_the_job_as_sidekiq_scheduler_pushes_it() {
        let entry = Entry::parse(
            "nightly",
            br#"{"cron":"0 0 * * *","class":"ReportJob","queue":"low","args":"x","description":"d","retry":2,"enabled":true}"#,
            0.0,
        )
        .unwrap();
        let job = job(&entry, 86_400.0);
        assert_eq!(job["class"], "ReportJob");
        assert_eq!(job["queue"], "low");
        assert_eq!(job["args"], serde_json::json!(["x"]));
        assert_eq!(job["retry"], 2);
        assert!(job.get("description").is_none() && job.get("cron").is_none());
        assert_eq!(job["jid"].as_str().map(str::len), Some(24));
    }

    #[test]
    fn class_defaults_to_the_name_and_metadata_is_appended() {
        let entry = Entry::parse(
            "HardJob",
            br#"{"every":"1m","args":[1],"include_metadata":true}"#,
            0.0,
        )
        .unwrap();
        let job = job(&entry, 60.0);
        assert_eq!(job["class"], "HardJob");
        assert_eq!(job["queue"], "default");
        assert_eq!(job["args"], serde_json::json!([1, {"scheduled_at": 60.0}]));
        assert!(job.get("include_metadata").is_none());
    }

    #[test]
    fn date_as_argument_appends_the_tick_as_a_float() {
        let entry = Entry::parse(
            "cron_job:default:stamped",
            br#"{"cron":"* * * * * *","class":"StampJob","args":["a"],"date_as_argument":true}"#,
            0.0,
        )
        .unwrap();
        let tick = 1_764_460_800.0;
        let (_, payload) = entry.payload(tick, &defaults(), tick + 0.01).unwrap();
        let text = String::from_utf8(payload).unwrap();
        // A Float in JSON, as Ruby's `Time#to_f` dumps it, so the job reads back a Float.
        assert!(text.contains(r#""args":["a",1764460800.0]"#), "{text}");
        assert!(!text.contains("date_as_argument"));
        let member = entry.hand_off_member(tick).unwrap();
        let handed: Value = serde_json::from_slice(&member).unwrap();
        assert_eq!(handed["args"], serde_json::json!(["a", 1_764_460_800.0]));
        assert!(handed["args"][1].is_f64());
    }

    #[test]
    fn enabled_reads_yaml_booleans_and_strings() {
        let parse = |json: &[u8]| Entry::parse("x", json, 0.0).unwrap().enabled_by_default;
        assert!(parse(br#"{"every":"1m"}"#));
        assert!(!parse(br#"{"every":"1m","enabled":false}"#));
        assert!(!parse(br#"{"every":"1m","enabled":"false"}"#));
        assert!(Entry::parse("x", br#"{"cron":"nope"}"#, 0.0).is_err());
    }

    #[test]
    fn members_are_epoch_seconds_like_the_plugins() {
        assert_eq!(tick_member(1_700_000_000.0), "1700000000");
        assert_eq!(tick_member(1.5), "1.500");
    }
}
