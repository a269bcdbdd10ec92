//! JSON text exactly as Ruby's `JSON.generate` writes it (json 2.x, default state).
//!
//! Sidekiq matches jobs by their bytes (`LREM`, `ZREM`, `ZINCRBY` on re-dumped payloads), so every
//! payload Ferrokiq writes must equal what Ruby would write for the same Hash: compact, keys in
//! insertion order, raw UTF-8, only `"`, `\` and control characters escaped, floats as `Float#to_s`.

use serde_json::{Map, Number, Value};

/// Appends `s` as a JSON string literal with Ruby's escaping rules.
///
/// Most text in a payload needs no escape (keys, class names, ids, timestamps as text), so the
/// whole string is first checked eight bytes at a time and, when clean, copied in one go; only
/// a string holding a quote, a backslash or a control character goes through `write_escaped`.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if is_clean(bytes) {
        out.extend_from_slice(bytes);
    } else {
        write_escaped(out, bytes);
    }
    out.push(b'"');
}

/// Whether no byte of `bytes` needs an escape. Words of eight bytes; the last word overlaps the
/// one before it (bytes checked twice are still clean), and a string shorter than a word is
/// padded with spaces, which need no escape. Most keys and values are shorter than 16 bytes,
/// so this is one or two word tests and no per-byte branch.
fn is_clean(bytes: &[u8]) -> bool {
    if bytes.len() < 8 {
        return !needs_escape(short_word(bytes));
    }
    let (words, _) = bytes.as_chunks::<8>();
    let last = bytes
        .last_chunk::<8>()
        .is_some_and(|word| !needs_escape(u64::from_le_bytes(*word)));
    last && words
        .iter()
        .all(|word| !needs_escape(u64::from_le_bytes(*word)))
}

/// The bytes of a string shorter than a word, packed into one word with spaces around them
/// (two overlapping halves, or the first, middle and last byte). Built from loads rather than
/// from a padded copy on the stack, whose byte-wise stores the word's load would wait for.
fn short_word(bytes: &[u8]) -> u64 {
    const SPACES: u64 = 0x2020_2020_2020_2020;
    let len = bytes.len();
    match (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        (Some(head), Some(tail)) => {
            u64::from(u32::from_le_bytes(*head)) | (u64::from(u32::from_le_bytes(*tail)) << 32)
        }
        _ if len == 0 => SPACES,
        _ => {
            let (first, middle, last) = (bytes[0], bytes[len / 2], bytes[len - 1]);
            u64::from(first) | (u64::from(middle) << 8) | (u64::from(last) << 16) | (SPACES << 24)
        }
    }
}

/// Writes the body of a string that needs escapes: clean stretches are copied whole, found
/// eight bytes at a time; only a word holding a byte to escape is looked at byte by byte.
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(word) = bytes[i..].first_chunk::<8>() {
            if !needs_escape(u64::from_le_bytes(*word)) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        if let Some(short) = escape_for(b) {
            out.extend_from_slice(&bytes[start..i]);
            if short == 0 {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            } else {
                out.push(b'\\');
                out.push(short);
            }
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// The letter after the backslash for a byte JSON must escape (0 for a `\u00XX` escape), or
/// `None` for a byte written as it is.
fn escape_for(b: u8) -> Option<u8> {
    match b {
        b'"' => Some(b'"'),
        b'\\' => Some(b'\\'),
        b'\n' => Some(b'n'),
        b'\r' => Some(b'r'),
        b'\t' => Some(b't'),
        0x08 => Some(b'b'),
        0x0c => Some(b'f'),
        0x00..=0x1f => Some(0),
        _ => None,
    }
}

/// Whether any of the eight bytes of `word` is a control character, `"` or `\`. Exact for
/// "any" (the usual has-zero-byte test: a borrow only ever spreads upward from a byte that
/// matched).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, limit: u8| x.wrapping_sub(ONES * limit as u64) & !x & HIGH_BITS;
    let control = below(word, 0x20);
    let quote = below(word ^ (ONES * b'"' as u64), 1);
    let backslash = below(word ^ (ONES * b'\\' as u64), 1);
    (control | quote | backslash) != 0
}

/// Appends an integer as JSON (and Ruby) write it, without an allocation.
pub fn write_int(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends Ruby's `Float#to_s` of a finite float (see [`ruby_float`]); false, writing nothing,
/// for NaN and the infinities. The usual case (a timestamp) writes Ryu's text with no
/// allocation.
pub fn write_float(out: &mut Vec<u8>, value: f64) -> bool {
    if !value.is_finite() {
        return false;
    }
    // From 0.001 to below 1e15 (decimal point from 2 places left of the first digit to 15
    // right of it) Ryu's own layout is fixed notation too, character for character Ruby's: the
    // common case (every timestamp) needs no re-layout.
    if (1e-3..1e15).contains(&value.abs()) {
        let mut buffer = ryu::Buffer::new();
        let text = buffer.format_finite(value);
        if !text.contains('e') {
            out.extend_from_slice(text.as_bytes());
            return true;
        }
    }
    out.extend_from_slice(laid_out(value).as_bytes());
    true
}

/// Ruby's `Float#to_s` for a finite float, or `None` for NaN and the infinities (which
/// `JSON.generate` refuses).
///
/// The digits are the shortest string that reads back as the same double, ties to even, as
/// Ruby's `dtoa` mode 0 gives them (Ryu computes the same; Rust's own formatter rounds ties
/// up). Ruby then lays them out in fixed notation when the integer part has at most 15 digits,
/// or 16 with a fractional part, or the value is at least 0.0001; otherwise as `d.ddde+XX`
/// with at least two exponent digits. A fractional part always shows (`1.0`, `1.0e+20`).
pub fn ruby_float(value: f64) -> Option<String> {
    let mut out = Vec::with_capacity(24);
    write_float(&mut out, value).then(|| into_string(out))
}

/// Ruby's layout of a finite float's shortest digits (see [`ruby_float`]).
fn laid_out(value: f64) -> String {
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .to_string();
    }
    let (digits, decpt) = shortest_digits(value.abs());
    let ndigits = digits.len() as i32;
    let mut out = String::with_capacity(digits.len() + 8);
    if value.is_sign_negative() {
        out.push('-');
    }
    if decpt > 0 && decpt < ndigits {
        out.push_str(&digits[..decpt as usize]);
        out.push('.');
        out.push_str(&digits[decpt as usize..]);
    } else if decpt > 0 && decpt <= 15 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (decpt - ndigits) as usize));
        out.push_str(".0");
    } else if decpt <= 0 && decpt > -4 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-decpt) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if ndigits > 1 { &digits[1..] } else { "0" });
        let e = decpt - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", e.abs()));
    }
    out
}

/// The shortest round-trip decimal digits of a positive finite `value` (no leading or trailing
/// zeros) and the position of the decimal point relative to them: value = 0.DIGITS × 10^decpt.
fn shortest_digits(value: f64) -> (String, i32) {
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(value);
    let (mantissa, exp) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = int_part.chars().chain(frac_part.chars()).collect();
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_matches('0').to_string();
    let decpt = int_part.len() as i32 - leading as i32 + exp;
    (digits, decpt)
}

/// Why a value cannot be written as Ruby would write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// NaN or an infinity: `JSON.generate` raises `JSON::GeneratorError` for these.
    NonFiniteFloat,
    /// A number literal that is neither an integer nor a float (cannot happen with valid JSON).
    BadNumber(String),
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::NonFiniteFloat => write!(f, "NaN and Infinity are not allowed in JSON"),
            EncodeError::BadNumber(n) => write!(f, "invalid JSON number {n}"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Appends a parsed JSON number as Ruby would re-dump it after `JSON.parse`: integers in
/// canonical decimal (arbitrary size), floats through `Float#to_s`.
pub fn write_number(out: &mut Vec<u8>, number: &Number) -> Result<(), EncodeError> {
    let text = number.to_string();
    let is_float = text.contains(['.', 'e', 'E']);
    if is_float {
        let value: f64 = text
            .parse()
            .map_err(|_| EncodeError::BadNumber(text.clone()))?;
        let formatted = ruby_float(value).ok_or(EncodeError::NonFiniteFloat)?;
        out.extend_from_slice(formatted.as_bytes());
    } else if text == "-0" {
        out.push(b'0');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
    Ok(())
}

/// Appends `value` as Ruby's `JSON.generate(JSON.parse(text))` would.
pub fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<(), EncodeError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(out, map)?,
    }
    Ok(())
}

/// Appends a JSON object, keys in their stored order.
pub fn write_object(out: &mut Vec<u8>, map: &Map<String, Value>) -> Result<(), EncodeError> {
    out.push(b'{');
    for (i, (key, item)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, key);
        out.push(b':');
        write_value(out, item)?;
    }
    out.push(b'}');
    Ok(())
}

/// `value` as Ruby-identical JSON text.
pub fn to_ruby_json(value: &Value) -> Result<String, EncodeError> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value)?;
    Ok(into_string(out))
}

/// The writers above only emit `&str` fragments and ASCII, so the buffer is always UTF-8.
pub(crate) fn into_string(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(v: f64) -> String {
        ruby_float(v).unwrap()
    }

    #[test]
    fn floats_follow_ruby_layout() {
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(-2.5), "-2.5");
        assert_eq!(float(0.1), "0.1");
        assert_eq!(float(1700000000.1234567), "1700000000.1234567");
        assert_eq!(float(1700000000.0), "1700000000.0");
        assert_eq!(float(1e14), "100000000000000.0");
        assert_eq!(float(1e15), "1.0e+15");
        assert_eq!(float(1.5e15), "1.5e+15");
        assert_eq!(float(123456789012345.0), "123456789012345.0");
        assert_eq!(float(1e16), "1.0e+16");
        assert_eq!(float(1.5e16), "1.5e+16");
        assert_eq!(float(9007199254740993.0), "9.007199254740992e+15");
        assert_eq!(float(1e20), "1.0e+20");
        assert_eq!(float(1.0e-4), "0.0001");
        assert_eq!(float(1.5e-4), "0.00015");
        assert_eq!(float(1.0e-5), "1.0e-05");
        assert_eq!(float(1.25e-7), "1.25e-07");
        assert_eq!(float(1e100), "1.0e+100");
        assert_eq!(float(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(float(5e-324), "5.0e-324");
        assert_eq!(float(4152137276264804.5), "4152137276264804.5");
        assert_eq!(float(1234567890123456.0), "1.234567890123456e+15");
        assert_eq!(float(-225839333440194.12), "-225839333440194.12");
        assert_eq!(float(0.001), "0.001");
        assert_eq!(float(100.0), "100.0");
        assert_eq!(float(0.0), "0.0");
        assert_eq!(float(-0.0), "-0.0");
        assert_eq!(float(123456789012345.67), "123456789012345.67");
        assert_eq!(ruby_float(f64::NAN), None);
        assert_eq!(ruby_float(f64::INFINITY), None);
    }

    /// Ryu's own layout is taken only where it is Ruby's: across the fast path's range and its
    /// edges, both paths give the same text.
    #[test]
    fn fast_path_matches_the_layout() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let edges = [
            1e-3,
            0.0010000000000000002,
            1e15 - 0.125,
            999999999999999.9,
            1.0,
            0.5,
        ];
        let randoms = (0..200_000).map(|_| {
            let bits = next();
            let mantissa = (bits >> 11) as f64 / (1u64 << 53) as f64;
            let exponent = (bits % 24) as i32 - 6;
            mantissa * 10f64.powi(exponent)
        });
        for value in edges.into_iter().chain(randoms) {
            for signed in [value, -value] {
                assert_eq!(float(signed), laid_out(signed), "{signed:e}");
            }
        }
    }

    fn escaped(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_like_ruby() {
        assert_eq!(escaped("plain"), r#""plain""#);
        assert_eq!(escaped("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(escaped("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(escaped("\u{1}\u{1f}"), r#""\u0001\u001f""#);
        assert_eq!(escaped("é/ü✓\u{7f}"), "\"é/ü✓\u{7f}\"");
    }

    /// The word-at-a-time scan finds every byte that needs an escape, wherever it sits in a
    /// word and whatever surrounds it (bytes just above and below the limits included), and
    /// passes clean strings of every length whole.
    #[test]
    fn escapes_are_found_at_every_offset() {
        fn one_by_one(s: &str) -> String {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        let fillers = ["a", " ", "!", "#", "[", "]", "\u{7f}", "é"];
        let specials: Vec<char> = (0u8..0x20).map(char::from).chain(['"', '\\']).collect();
        for filler in fillers {
            for special in &specials {
                for len in 0..20 {
                    for at in 0..=len {
                        let mut text = filler.repeat(len);
                        let offset = text.char_indices().nth(at).map_or(text.len(), |(i, _)| i);
                        text.insert(offset, *special);
                        assert_eq!(escaped(&text), one_by_one(&text), "{text:?}");
                    }
                }
            }
            for len in (0..20).chain([33]) {
                let clean = filler.repeat(len);
                assert_eq!(escaped(&clean), one_by_one(&clean), "{clean:?}");
            }
        }
    }

    #[test]
    fn integers_and_floats_are_written_in_place() {
        let mut out = b"[".to_vec();
        write_int(&mut out, i64::MIN);
        out.push(b',');
        write_int(&mut out, 0);
        out.push(b',');
        assert!(write_float(&mut out, 1700000000.25));
        out.push(b',');
        assert!(write_float(&mut out, 1e20));
        assert!(!write_float(&mut out, f64::NAN));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[-9223372036854775808,0,1700000000.25,1.0e+20"
        );
    }

    #[test]
    fn parsed_payload_round_trips_byte_identically() {
        let text = r#"{"retry":true,"queue":"default","args":[1,"x",2.50,1.0E5,-0,{"k":null}],"class":"HardJob","jid":"b4a577edbccf1d805744efa9","created_at":1700000000.1234567,"big":123456789012345678901234567890}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            to_ruby_json(&value).unwrap(),
            r#"{"retry":true,"queue":"default","args":[1,"x",2.5,100000.0,0,{"k":null}],"class":"HardJob","jid":"b4a577edbccf1d805744efa9","created_at":1700000000.1234567,"big":123456789012345678901234567890}"#
        );
    }

    #[test]
    fn unicode_escapes_decode_to_raw_utf8() {
        let value: Value = serde_json::from_str(r#"["\u00e9\/\u2713"]"#).unwrap();
        assert_eq!(to_ruby_json(&value).unwrap(), "[\"é/✓\"]");
    }
}
