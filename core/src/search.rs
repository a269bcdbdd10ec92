//! Finding one job by jid in a sorted set (`schedule`, `retry`, `dead`) or a queue list, for
//! the Data API's `find_job` (docs/wire-format.md §10).
//!
//! A retry or dead set can hold hundreds of thousands of jobs. Sidekiq walks it from Ruby, parsing
//! whatever the scan returns; here Redis does the coarse filtering (`ZSCAN … MATCH`), only the
//! few members that contain the jid's text are parsed, and nothing but the match crosses into Ruby.

use crate::connection::RedisConnection;
use crate::error::{RedisFailure, RedisResult};
use crate::json::write_str;

/// How many members each `ZSCAN` asks Redis to look at (a hint; Sidekiq uses 100, which costs
/// ten times the round trips on a large set).
pub const SCAN_COUNT: usize = 1_000;

/// How many entries of a queue each `LRANGE` page reads.
pub const LIST_PAGE: usize = 1_000;

/// The jid as it appears between the quotes of a JSON string written by `JSON.generate` (the
/// writer of every Sidekiq and Ferrokiq payload), so that a jid containing `"` or `\` is still
/// found by its bytes.
pub fn json_text(jid: &str) -> Vec<u8> {
    let mut quoted = Vec::with_capacity(jid.len() + 2);
    write_str(&mut quoted, jid);
    quoted[1..quoted.len() - 1].to_vec()
}

/// A `MATCH` glob for members containing `text` literally: the glob's own special characters in
/// `text` are escaped.
pub fn contains_pattern(text: &[u8]) -> Vec<u8> {
    let mut pattern = Vec::with_capacity(text.len() + 2);
    pattern.push(b'*');
    for &byte in text {
        if matches!(byte, b'*' | b'?' | b'[' | b']' | b'\\') {
            pattern.push(b'\\');
        }
        pattern.push(byte);
    }
    pattern.push(b'*');
    pattern
}

/// A search for one jid: the cheap byte test first, the JSON parse only to confirm.
pub struct JidMatcher<'a> {
    jid: &'a str,
    text: Vec<u8>,
}

impl<'a> JidMatcher<'a> {
    pub fn new(jid: &'a str) -> Self {
        JidMatcher {
            jid,
            text: json_text(jid),
        }
    }

    /// The `MATCH` pattern that lets Redis skip members that cannot be the job.
    pub fn pattern(&self) -> Vec<u8> {
        contains_pattern(&self.text)
    }

    /// Whether `member` is a job payload (a JSON object) whose `jid` is the one searched for.
    /// The jid's text appearing elsewhere (in args, in an error message) is not enough.
    pub fn matches(&self, member: &[u8]) -> bool {
        if !contains(member, &self.text) {
            return false;
        }
        match serde_json::from_slice::<serde_json::Value>(member) {
            Ok(serde_json::Value::Object(job)) => {
                job.get("jid").and_then(serde_json::Value::as_str) == Some(self.jid)
            }
            _ => false,
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// A member of a sorted set with its score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredMember {
    pub member: Vec<u8>,
    pub score: f64,
}

/// The first member of sorted set `key` whose payload has this jid, with its score; `None` if
/// there is none. A set changing during the scan is fine: `ZSCAN` returns every member that is
/// there from start to end at least once.
pub async fn find_in_sorted_set(
    conn: &RedisConnection,
    key: &str,
    jid: &str,
) -> RedisResult<Option<ScoredMember>> {
    let matcher = JidMatcher::new(jid);
    let pattern = matcher.pattern();
    let mut cursor = b"0".to_vec();
    loop {
        let (next, flat) = zscan_step(conn, key, cursor, &pattern, SCAN_COUNT).await?;
        for pair in flat.chunks_exact(2) {
            if matcher.matches(&pair[0]) {
                return Ok(Some(ScoredMember {
                    member: pair[0].clone(),
                    score: parse_score(&pair[1])?,
                }));
            }
        }
        if next == b"0" {
            return Ok(None);
        }
        cursor = next;
    }
}

/// The first entry of list `key` (from the head, the newest job, as `Queue#each` goes) whose
/// payload has this jid. Pages are read by index while the list changes: pushes at the head
/// shift entries towards the tail (an entry may be read twice), pops at the tail move nothing,
/// but an entry removed from the middle (`LREM`, e.g. another client's `JobRecord#delete`) in
/// the part already read shifts the rest towards the head, so one entry can be skipped and a
/// job that is there reported as absent.
pub async fn find_in_list(
    conn: &RedisConnection,
    key: &str,
    jid: &str,
) -> RedisResult<Option<Vec<u8>>> {
    let matcher = JidMatcher::new(jid);
    let mut start = 0usize;
    loop {
        let words = [
            b"LRANGE".to_vec(),
            key.as_bytes().to_vec(),
            start.to_string().into_bytes(),
            (start + LIST_PAGE - 1).to_string().into_bytes(),
        ];
        let page: Vec<Vec<u8>> = conn.call(&words).await?;
        let full = page.len() == LIST_PAGE;
        if let Some(found) = page.into_iter().find(|entry| matcher.matches(entry)) {
            return Ok(Some(found));
        }
        if !full {
            return Ok(None);
        }
        start += LIST_PAGE;
    }
}

/// One `ZSCAN key cursor MATCH pattern COUNT count` step: the next cursor (`0` at the end) and
/// the flat member, score, member, score... reply.
pub(crate) async fn zscan_step(
    conn: &RedisConnection,
    key: &str,
    cursor: Vec<u8>,
    pattern: &[u8],
    count: usize,
) -> RedisResult<(Vec<u8>, Vec<Vec<u8>>)> {
    let words = [
        b"ZSCAN".to_vec(),
        key.as_bytes().to_vec(),
        cursor,
        b"MATCH".to_vec(),
        pattern.to_vec(),
        b"COUNT".to_vec(),
        count.to_string().into_bytes(),
    ];
    conn.call(&words).await
}

/// A score as `ZSCAN` sends it (the text of a double, `inf`/`-inf` included).
pub(crate) fn parse_score(text: &[u8]) -> RedisResult<f64> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| {
            RedisFailure::Command(format!(
                "unexpected sorted-set score {:?}",
                String::from_utf8_lossy(text)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_is_the_escaped_form_without_quotes() {
        assert_eq!(json_text("abc123"), b"abc123");
        assert_eq!(json_text("a\"b\\c"), b"a\\\"b\\\\c");
        assert_eq!(json_text("é/x"), "é/x".as_bytes());
    }

    #[test]
    fn patterns_escape_glob_characters() {
        assert_eq!(contains_pattern(b"abc"), b"*abc*");
        assert_eq!(contains_pattern(b"a*b?c[d]e\\"), b"*a\\*b\\?c\\[d\\]e\\\\*");
    }

    #[test]
    fn matches_only_the_jid_field() {
        let matcher = JidMatcher::new("0123456789abcdef01234567");
        assert!(matcher.matches(br#"{"class":"A","jid":"0123456789abcdef01234567","args":[]}"#));
        // In args, not as the jid.
        assert!(
            !matcher.matches(br#"{"class":"A","jid":"ffff","args":["0123456789abcdef01234567"]}"#)
        );
        // A longer jid containing the one searched for.
        assert!(!matcher.matches(br#"{"jid":"0123456789abcdef01234567ff"}"#));
        assert!(!matcher.matches(b"not json 0123456789abcdef01234567"));
        assert!(!matcher.matches(br#"["0123456789abcdef01234567"]"#));
    }

    #[test]
    fn matches_jids_that_need_escaping() {
        let matcher = JidMatcher::new("we\"ird\\jid");
        assert!(matcher.matches(br#"{"jid":"we\"ird\\jid"}"#));
    }

    #[test]
    fn scores_parse_like_redis_writes_them() {
        assert_eq!(parse_score(b"1700000000.25").ok(), Some(1_700_000_000.25));
        assert_eq!(parse_score(b"-inf").ok(), Some(f64::NEG_INFINITY));
        assert!(parse_score(b"x").is_err());
    }
}
