//! Sidekiq 7's retry arithmetic (docs/wire-format.md §5): how many retries a job gets, when the next
//! one runs, and how the error backtrace is stored.

use std::sync::Mutex;

use base64::Engine as _;
use flate2::{Compress, Compression, FlushCompress, Status};

use crate::json;
use crate::rng::Rng;

/// Sidekiq's default number of retries for `retry: true`.
pub const DEFAULT_MAX_RETRIES: u64 = 25;

/// The default delay before retry number `count` (0 for the first retry): `count**4 + 15`
/// seconds, plus Sidekiq 7's jitter of `rand(10) * (count + 1)`.
pub fn default_delay(count: u64, rng: &mut Rng) -> f64 {
    let base = count.saturating_pow(4).saturating_add(15) as f64;
    base + jitter(count, rng)
}

/// Sidekiq 7's jitter, also added to delays chosen by `sidekiq_retry_in`.
pub fn jitter(count: u64, rng: &mut Rng) -> f64 {
    (rng.below(10) * count.saturating_add(1)) as f64
}

/// The error backtrace as Sidekiq 7.2.2+ stores it: the lines as a JSON array, zlib-deflated,
/// strict base64 (no newlines).
pub fn compress_backtrace(lines: &[String]) -> String {
    let mut out = Vec::with_capacity(64 * lines.len() + 2);
    out.push(b'[');
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::write_str(&mut out, line);
    }
    out.push(b']');
    base64::engine::general_purpose::STANDARD.encode(deflate(&out))
}

/// One compressor for the whole process, reset between uses. A new one costs about 300 kB of
/// heap, and is built through a 64 kB value on the stack of the thread that makes it: one per
/// failed job left every worker thread's stack 64 kB deeper for good and the allocator's arenas
/// fragmented (docs/performance.md, §8.1). Failures are rare enough that sharing it costs nothing.
static COMPRESSOR: Mutex<Option<Compress>> = Mutex::new(None);

/// `bytes` as a zlib stream (header, deflate at the default level, Adler-32 trailer).
fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut slot = COMPRESSOR.lock().unwrap_or_else(|p| p.into_inner());
    let compressor = slot.get_or_insert_with(|| Compress::new(Compression::default(), true));
    compressor.reset();
    let mut out = Vec::with_capacity(bytes.len() / 2 + 64);
    loop {
        let read = compressor.total_in() as usize;
        let input = bytes.get(read..).unwrap_or_default();
        match compressor.compress_vec(input, &mut out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => break,
            // Out of room (or no progress without it): grow the output and go on.
            Ok(Status::Ok | Status::BufError) => out.reserve(out.capacity().max(64)),
            Err(_) => {
                // Not reachable for a finishing in-memory stream; start clean next time.
                *slot = None;
                return Vec::new();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::ZlibDecoder;
    use std::io::Read;

    #[test]
    fn delay_is_count_to_the_fourth_plus_15_plus_jitter() {
        let mut rng = Rng::seeded(7);
        for count in [0u64, 1, 2, 5, 24] {
            for _ in 0..200 {
                let delay = default_delay(count, &mut rng);
                let base = (count.pow(4) + 15) as f64;
                let extra = delay - base;
                assert!(
                    extra >= 0.0 && extra <= 9.0 * (count + 1) as f64,
                    "{count}: {delay}"
                );
                assert_eq!(
                    extra % (count + 1) as f64,
                    0.0,
                    "jitter is a multiple of count+1"
                );
            }
        }
    }

    #[test]
    fn backtrace_round_trips_through_inflate() {
        let lines = vec![
            "app/jobs/hard_job.rb:5:in `perform'".to_string(),
            "é \"q\"".to_string(),
        ];
        let encoded = compress_backtrace(&lines);
        assert!(!encoded.contains('\n'));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&encoded)
            .unwrap();
        let mut text = String::new();
        ZlibDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, r#"["app/jobs/hard_job.rb:5:in `perform'","é \"q\""]"#);
    }

    fn inflate(encoded: &str) -> String {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        let mut text = String::new();
        ZlibDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn the_shared_compressor_starts_each_backtrace_afresh() {
        let long: Vec<String> = (0..2_000)
            .map(|i| format!("app/models/thing_{i}.rb:{}:in `method_{}'", i * 7, i % 13))
            .collect();
        let first = compress_backtrace(&long);
        let short = compress_backtrace(&["only.rb:1".to_string()]);
        assert_eq!(inflate(&short), r#"["only.rb:1"]"#);
        assert_eq!(compress_backtrace(&long), first, "same input, same bytes");
        let text = inflate(&first);
        assert!(text.starts_with(r#"["app/models/thing_0.rb:0:in `method_0'","#));
        assert!(text.ends_with(r#""app/models/thing_1999.rb:13993:in `method_10'"]"#));
    }
}
