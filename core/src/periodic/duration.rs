//! Durations follow fugit (`y` = 365 d, capital `M` = 30 d, decimals, `and`, a bare number is
//! seconds), which humantime does not, hence the short parser here.

/// Seconds per fugit duration unit.
const YEAR: f64 = 365.0 * 86_400.0;
const MONTH: f64 = 30.0 * 86_400.0;
const WEEK: f64 = 7.0 * 86_400.0;
const DAY: f64 = 86_400.0;

/// A fugit duration (`1h`, `5m`, `1d2h`, `1.5 hours`, `2 hours and 30 minutes`, `90`) in
/// seconds.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let invalid = || format!("not a duration: {text:?}");
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid());
    }
    if let Ok(seconds) = trimmed.parse::<f64>() {
        return Ok(seconds);
    }
    let mut total = 0.0;
    let mut rest = trimmed;
    let mut elements = 0;
    loop {
        rest = skip_separators(rest);
        if rest.is_empty() {
            break;
        }
        let (sign, unsigned) = match rest.as_bytes()[0] {
            b'-' => (-1.0, &rest[1..]),
            b'+' => (1.0, &rest[1..]),
            _ => (1.0, rest),
        };
        let digits = unsigned
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(unsigned.len());
        let amount: f64 = unsigned[..digits].parse().map_err(|_| invalid())?;
        let after = unsigned[digits..].trim_start_matches(' ');
        let (unit, length) = duration_unit(after).ok_or_else(invalid)?;
        total += sign * amount * unit;
        rest = &after[length..];
        elements += 1;
    }
    if elements == 0 {
        return Err(invalid());
    }
    Ok(total)
}

/// Separators between elements: blanks, commas and the word `and`.
fn skip_separators(mut text: &str) -> &str {
    loop {
        let trimmed = text.trim_start_matches([' ', '\t', ',']);
        match trimmed.strip_prefix("and") {
            Some(after) if after.starts_with([' ', '\t']) => text = after,
            _ => return trimmed,
        }
    }
}

/// The unit at the start of `text`: its length in seconds and how many bytes it spans. `M` is a
/// month and `m` a minute (case matters there, as in fugit); the other units ignore case.
fn duration_unit(text: &str) -> Option<(f64, usize)> {
    let word_end = text
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let word = &text[..word_end];
    let lower = word.to_ascii_lowercase();
    let seconds = match word {
        "M" | "month" | "months" => MONTH,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        _ => match lower.as_str() {
            "y" | "year" | "years" => YEAR,
            "w" | "week" | "weeks" => WEEK,
            "d" | "day" | "days" => DAY,
            "h" | "hour" | "hours" => 3600.0,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            _ => return None,
        },
    };
    Some((seconds, word_end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fugit_durations() {
        assert_eq!(parse_duration("1h"), Ok(3600.0));
        assert_eq!(parse_duration("5m"), Ok(300.0));
        assert_eq!(parse_duration("1M"), Ok(2_592_000.0));
        assert_eq!(parse_duration("1.5 hours"), Ok(5400.0));
        assert_eq!(parse_duration("2 hours and 30 minutes"), Ok(9000.0));
        assert_eq!(parse_duration("1w2d"), Ok(777_600.0));
        assert_eq!(parse_duration("90"), Ok(90.0));
        assert_eq!(parse_duration("1d2h"), Ok(93_600.0));
        assert_eq!(parse_duration("45 minutes"), Ok(2700.0));
        assert_eq!(parse_duration("1y"), Ok(YEAR));
        assert_eq!(parse_duration("30s, 1m"), Ok(90.0));
        assert_eq!(parse_duration("1h -30m"), Ok(1800.0));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 fortnights").is_err());
    }
}
