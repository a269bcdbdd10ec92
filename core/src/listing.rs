//! Pages of large collections for the Web UI, computed in Rust so that only the page shown
//! crosses into Ruby (docs/web.md §6):
//!
//! - a filtered page of a sorted set: every member matching a glob is counted, and only the
//!   `first + count` first in the set's order are kept while walking the set;
//! - a page of the jobs running now, from every process's heartbeat, read in one round trip.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::sync::LazyLock;

use redis::{Pipeline, Script};

use crate::connection::RedisConnection;
use crate::error::{RedisFailure, RedisResult};
use crate::search::{parse_score, zscan_step, SCAN_COUNT};

/// A member of a sorted set with its score, ordered as Redis orders the set (score, then the
/// member's bytes), or the reverse.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub member: Vec<u8>,
    pub score: f64,
}

/// An entry in a bounded heap: the "greatest" is the one furthest down the requested order,
/// the first to drop when the heap is over its bound.
struct Ranked {
    entry: Entry,
    reverse: bool,
}

impl Ranked {
    fn in_set_order(&self, other: &Self) -> Ordering {
        self.entry
            .score
            .total_cmp(&other.entry.score)
            .then_with(|| self.entry.member.cmp(&other.entry.member))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        let order = self.in_set_order(other);
        if self.reverse {
            order.reverse()
        } else {
            order
        }
    }
}

/// One page of the members of sorted set `key` matching the glob `pattern`, in the set's order
/// (highest score first when `reverse`): how many match in all, and the matches at positions
/// `first .. first + count`. A member seen twice (the set changed during the walk) counts once.
///
/// A plain `*text*` is tested inside Redis by a script (`walk_containing`), so that only the
/// matches and their scores cross the network: `ZSCAN` would format every member's score, which
/// costs Redis 7.0 more than the whole test. Other patterns go through `ZSCAN … MATCH`.
pub async fn filtered_page(
    conn: &RedisConnection,
    key: &str,
    pattern: &[u8],
    reverse: bool,
    first: usize,
    count: usize,
) -> RedisResult<(u64, Vec<Entry>)> {
    let mut page = PageCollector::new(first, count, reverse);
    match literal_text(pattern) {
        Some(text) => walk_containing(conn, key, text, &mut page).await?,
        None => scan_matching(conn, key, pattern, &mut page).await?,
    }
    Ok(page.finish())
}

/// Counts the matches offered and keeps the first `first + count` in the requested order in a
/// bounded heap.
struct PageCollector {
    heap: BinaryHeap<Ranked>,
    seen: HashSet<Vec<u8>>,
    total: u64,
    first: usize,
    keep: usize,
    reverse: bool,
}

impl PageCollector {
    fn new(first: usize, count: usize, reverse: bool) -> Self {
        let keep = first.saturating_add(count);
        PageCollector {
            heap: BinaryHeap::with_capacity(keep.min(10_000) + 1),
            seen: HashSet::new(),
            total: 0,
            first,
            keep,
            reverse,
        }
    }

    /// Takes a flat `[member, score, member, score, ...]` reply.
    fn offer_pairs(&mut self, flat: &[Vec<u8>]) -> RedisResult<()> {
        for pair in flat.chunks_exact(2) {
            if !self.seen.insert(pair[0].clone()) {
                continue;
            }
            self.total += 1;
            let ranked = Ranked {
                entry: Entry {
                    member: pair[0].clone(),
                    score: parse_score(&pair[1])?,
                },
                reverse: self.reverse,
            };
            if self.heap.len() < self.keep {
                self.heap.push(ranked);
            } else if self.heap.peek().is_some_and(|last| ranked < *last) {
                self.heap.pop();
                self.heap.push(ranked);
            }
        }
        Ok(())
    }

    fn finish(self) -> (u64, Vec<Entry>) {
        let page = self
            .heap
            .into_sorted_vec()
            .into_iter()
            .skip(self.first)
            .map(|ranked| ranked.entry)
            .collect();
        (self.total, page)
    }
}

/// Members per script of the filter's walk: one script holds Redis for a few milliseconds.
pub const FILTER_CHUNK: usize = 5_000;

/// One window of the walk, by rank from the highest score (ARGV[1] members already walked,
/// ARGV[2] per window): the members containing ARGV[3] (a plain `string.find`, equal to the glob
/// `*text*`) with their scores. Returns how many members the window held, then member/score
/// pairs.
const WALK_CONTAINING: &str = r"
local done, size = tonumber(ARGV[1]), tonumber(ARGV[2])
local items = redis.call('zrange', KEYS[1], -(done + size), -(done + 1))
local found = { #items }
for i = 1, #items do
  if string.find(items[i], ARGV[3], 1, true) then
    found[#found + 1] = items[i]
    found[#found + 1] = redis.call('zscore', KEYS[1], items[i])
  end
end
return found
";

static WALK_CONTAINING_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(WALK_CONTAINING));

/// The text a `*text*` glob looks for, when it holds no other glob syntax: then a plain
/// substring test gives the same answer as the glob.
pub fn literal_text(pattern: &[u8]) -> Option<&[u8]> {
    let inner = pattern.strip_prefix(b"*")?.strip_suffix(b"*")?;
    let plain = !inner.is_empty()
        && !inner
            .iter()
            .any(|byte| matches!(byte, b'*' | b'?' | b'[' | b']' | b'\\'));
    plain.then_some(inner)
}

/// Walks the set by rank from the highest score down, a window per script. New entries land
/// at the top of a job set (retries, deaths) and the scheduler and the dead set's trim take
/// from the bottom: neither moves a member not yet walked past the walk, so neither hides one
/// (a member walked twice is counted once). An entry deleted from the middle during the walk
/// can hide one other for this request.
async fn walk_containing(
    conn: &RedisConnection,
    key: &str,
    text: &[u8],
    page: &mut PageCollector,
) -> RedisResult<()> {
    let mut done = 0usize;
    loop {
        let mut invocation = WALK_CONTAINING_SCRIPT.prepare_invoke();
        invocation.key(key).arg(done).arg(FILTER_CHUNK).arg(text);
        let reply: Vec<redis::Value> = conn.invoke(&invocation).await?;
        let mut items = reply.into_iter();
        let read = match items.next() {
            Some(redis::Value::Int(read)) => usize::try_from(read).unwrap_or(0),
            other => {
                return Err(RedisFailure::Command(format!(
                    "unexpected reply from the filter script: {other:?}"
                )))
            }
        };
        let flat: Vec<Vec<u8>> = items
            .map(redis::from_redis_value)
            .collect::<Result<_, _>>()
            .map_err(|e| RedisFailure::Command(e.to_string()))?;
        page.offer_pairs(&flat)?;
        if read < FILTER_CHUNK {
            return Ok(());
        }
        done += read;
    }
}

/// `ZSCAN … MATCH` over the whole set.
async fn scan_matching(
    conn: &RedisConnection,
    key: &str,
    pattern: &[u8],
    page: &mut PageCollector,
) -> RedisResult<()> {
    let mut cursor = b"0".to_vec();
    loop {
        let (next, flat) = zscan_step(conn, key, cursor, pattern, FILTER_CHUNK).await?;
        page.offer_pairs(&flat)?;
        if next == b"0" {
            return Ok(());
        }
        cursor = next;
    }
}

/// A busy thread as its process's heartbeat describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Busy {
    pub identity: String,
    pub thread: Vec<u8>,
    /// The heartbeat's JSON for this thread (`queue`, `payload`, `run_at`).
    pub work: Vec<u8>,
    pub run_at: i64,
}

/// The threads running a job in every live process, longest-running first (the same order as
/// `Sidekiq::WorkSet#each`): how many there are, and those at `first .. first + count`. Reads
/// `<identity>:work` (Sidekiq 6.5+, Ferrokiq) for every process in one pipelined round trip,
/// and `<identity>:workers` (Sidekiq 6.4) in a second one only for those with no `:work`.
pub async fn busy_page(
    conn: &RedisConnection,
    first: usize,
    count: usize,
) -> RedisResult<(u64, Vec<Busy>)> {
    let mut identities = set_members(conn, "processes").await?;
    identities.sort();
    let mut threads = hashes(conn, &identities, ":work").await?;
    let idle: Vec<usize> = (0..identities.len())
        .filter(|&i| threads[i].is_empty())
        .collect();
    if !idle.is_empty() {
        let older: Vec<String> = idle.iter().map(|&i| identities[i].clone()).collect();
        for (i, hash) in idle
            .into_iter()
            .zip(hashes(conn, &older, ":workers").await?)
        {
            threads[i] = hash;
        }
    }
    let mut all = Vec::new();
    for (identity, hash) in identities.iter().zip(threads) {
        for (thread, work) in hash {
            if work.is_empty() {
                continue;
            }
            all.push(Busy {
                identity: identity.clone(),
                thread,
                run_at: run_at(&work),
                work,
            });
        }
    }
    all.sort_by_key(|busy| busy.run_at);
    let total = all.len() as u64;
    Ok((total, all.into_iter().skip(first).take(count).collect()))
}

type Hash = Vec<(Vec<u8>, Vec<u8>)>;

/// `HGETALL <identity><suffix>` for each identity, pipelined.
async fn hashes(
    conn: &RedisConnection,
    identities: &[String],
    suffix: &str,
) -> RedisResult<Vec<Hash>> {
    if identities.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = Pipeline::with_capacity(identities.len());
    for identity in identities {
        pipe.cmd("HGETALL").arg(format!("{identity}{suffix}"));
    }
    conn.pipeline(&pipe).await
}

/// The `run_at` of a heartbeat's thread entry, in whole seconds as Ruby's `to_i` reads it
/// (0 when absent or unreadable). The field is found by its bytes when it occurs once (inside
/// the payload, a JSON string, its quotes are escaped); otherwise the entry is parsed.
fn run_at(work: &[u8]) -> i64 {
    const FIELD: &[u8] = b"\"run_at\":";
    let mut found = work
        .windows(FIELD.len())
        .enumerate()
        .filter(|(_, window)| *window == FIELD);
    if let (Some((at, _)), None) = (found.next(), found.next()) {
        let rest = &work[at + FIELD.len()..];
        let end = rest
            .iter()
            .position(|byte| matches!(byte, b',' | b'}'))
            .unwrap_or(rest.len());
        if let Some(seconds) = std::str::from_utf8(&rest[..end])
            .ok()
            .and_then(|text| text.trim().parse::<f64>().ok())
        {
            return seconds.trunc() as i64;
        }
    }
    parsed_run_at(work)
}

fn parsed_run_at(work: &[u8]) -> i64 {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(work) else {
        return 0;
    };
    match fields.get("run_at") {
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.trunc() as i64))
            .unwrap_or(0),
        Some(serde_json::Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .map(|f| f.trunc() as i64)
            .unwrap_or(0),
        _ => 0,
    }
}

async fn set_members(conn: &RedisConnection, key: &str) -> RedisResult<Vec<String>> {
    let mut members = std::collections::BTreeSet::new();
    let mut cursor = b"0".to_vec();
    loop {
        let words = [
            b"SSCAN".to_vec(),
            key.as_bytes().to_vec(),
            cursor,
            b"COUNT".to_vec(),
            SCAN_COUNT.to_string().into_bytes(),
        ];
        let (next, page): (Vec<u8>, Vec<String>) = conn.call(&words).await?;
        members.extend(page);
        if next == b"0" {
            return Ok(members.into_iter().collect());
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_contains_patterns_are_literal() {
        assert_eq!(literal_text(b"*needle*"), Some(&b"needle"[..]));
        assert_eq!(literal_text(b"*a b-c*"), Some(&b"a b-c"[..]));
        assert_eq!(literal_text(b"*ne?dle*"), None);
        assert_eq!(literal_text(b"*a*b*"), None);
        assert_eq!(literal_text(b"needle*"), None);
        assert_eq!(literal_text(b"**"), None);
    }

    #[test]
    fn run_at_reads_integers_floats_and_strings() {
        assert_eq!(
            run_at(br#"{"queue":"q","run_at":1700000000}"#),
            1_700_000_000
        );
        assert_eq!(run_at(br#"{"run_at":1700000000.9}"#), 1_700_000_000);
        assert_eq!(run_at(br#"{"run_at":"12"}"#), 12);
        assert_eq!(run_at(b"nope"), 0);
        // The field's text inside the payload (escaped) is not the field.
        let nested = br#"{"queue":"q","payload":"{\"run_at\":5}","run_at":1700000001}"#;
        assert_eq!(run_at(nested), 1_700_000_001);
        // Twice at the top level of nested objects: parsed.
        let twice = br#"{"payload":{"run_at":5},"run_at":7}"#;
        assert_eq!(run_at(twice), 7);
    }

    #[test]
    fn ranked_orders_by_score_then_member_or_the_reverse() {
        let entry = |member: &[u8], score| Ranked {
            entry: Entry {
                member: member.to_vec(),
                score,
            },
            reverse: false,
        };
        assert!(entry(b"b", 1.0) < entry(b"a", 2.0));
        assert!(entry(b"a", 1.0) < entry(b"b", 1.0));
        let mut high = entry(b"a", 2.0);
        high.reverse = true;
        let mut low = entry(b"a", 1.0);
        low.reverse = true;
        assert!(high < low);
    }
}
