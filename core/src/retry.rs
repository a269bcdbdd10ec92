//! Sidekiq 7's retry arithmetic (docs/wire-format.md §5): how many retries a job gets, when the next
//! one runs, and how the error backtrace is stored.

use std::io::Write;

use base64::Engine as _;
use flate2::write::ZlibEncoder;
use flate2::Compression;

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
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(&out);
    let compressed = encoder.finish().unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(compressed)
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
}
