//! Natural-language crons as sidekiq-cron accepts them through fugit (`every day at noon`,
//! `every monday at 5pm`, `every 5 minutes`, `every weekday at 10:30`, `from the 25th to the
//! last at noon`, ...), turned into cron lines (docs/design.md, §5.1).
//!
//! The grammar is fugit's common one, written here from its documented examples: `every` with
//! an interval (`[N] second|minute|hour|day|week|month|year`, `5m`, `3h`, `starting at minute
//! 1`), weekdays (`monday`, `mon-thu`, `Mon to Thu`, `weekday`), days of the month (`1st of the
//! month`, `on day 2 and 5`, `on the 1st and last`, `from the 25th to the last`), times (`at
//! five`, `at 5 pm`, `16:30`, `noon`, `12 midnight`, `zero dark twenty`, `8am to 5pm`, `at
//! minute 50`, `at second 10`, `on the hour`) and a zone (`in Asia/Tokyo`, a trailing `UTC`).
//! Anything else is refused with the word that was not understood; nothing is guessed. Steps
//! larger than their field (`every 90 minutes`, which fugit turns into once an hour) are
//! refused too.

/// A unit of `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Unit {
    /// `seconds`, `min`, `h`, `M` (month; `m` is a minute), ...
    fn parse(word: &str) -> Option<Self> {
        if word == "M" {
            return Some(Unit::Month);
        }
        Some(match word.to_ascii_lowercase().as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => Unit::Second,
            "m" | "min" | "mins" | "minute" | "minutes" => Unit::Minute,
            "h" | "hou" | "hour" | "hours" => Unit::Hour,
            "d" | "day" | "days" => Unit::Day,
            "week" | "weeks" => Unit::Week,
            "month" | "months" => Unit::Month,
            "year" | "years" => Unit::Year,
            _ => return None,
        })
    }

    /// The largest step that still means "every N" in this unit's cron field.
    fn largest_step(self) -> u32 {
        match self {
            Unit::Second | Unit::Minute => 60,
            Unit::Hour => 24,
            Unit::Day => 31,
            Unit::Month => 12,
            Unit::Week | Unit::Year => 1,
        }
    }
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

fn weekday(word: &str) -> Option<u32> {
    let lower = word.to_ascii_lowercase();
    WEEKDAYS
        .iter()
        .position(|day| *day == lower || (lower.len() == 3 && day.starts_with(&lower)))
        .map(|index| index as u32)
}

const UNITS: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 4] = ["twenty", "thirty", "forty", "fifty"];

/// `zero` .. `fifty-nine` spelt out.
fn spelt_number(word: &str) -> Option<u32> {
    let lower = word.to_ascii_lowercase();
    if let Some(index) = UNITS.iter().position(|unit| *unit == lower) {
        return Some(index as u32);
    }
    let (tens, unit) = match lower.split_once('-') {
        Some((tens, unit)) => (tens, Some(unit)),
        None => (lower.as_str(), None),
    };
    let tens = TENS.iter().position(|t| *t == tens)? as u32 * 10 + 20;
    match unit {
        None => Some(tens),
        Some(unit) => {
            let unit = UNITS[1..10].iter().position(|u| *u == unit)? as u32 + 1;
            Some(tens + unit)
        }
    }
}

/// An hour said as a word: `one` .. `twelve`, `zero`, `oh`, `midnight`, `noon`.
fn spelt_hour(word: &str) -> Option<u32> {
    match word.to_ascii_lowercase().as_str() {
        "midnight" | "oh" => Some(0),
        "noon" => Some(12),
        other => spelt_number(other).filter(|hour| *hour <= 12),
    }
}

const ORDINALS: [&str; 31] = [
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    "twenty-first",
    "twenty-second",
    "twenty-third",
    "twenty-fourth",
    "twenty-fifth",
    "twenty-sixth",
    "twenty-seventh",
    "twenty-eighth",
    "twenty-ninth",
    "thirtieth",
    "thirty-first",
];

/// A day of the month as an ordinal (`1st`, `22nd`, `fifteenth`, `last`), in cron terms.
fn ordinal_day(word: &str) -> Option<String> {
    let lower = word.to_ascii_lowercase();
    if lower == "last" {
        return Some("L".to_string());
    }
    if let Some(index) = ORDINALS.iter().position(|o| *o == lower) {
        return Some((index + 1).to_string());
    }
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &lower[digits.len()..];
    let day: u32 = digits.parse().ok()?;
    let expected = match (day % 10, day % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    ((1..=31).contains(&day) && suffix == expected).then(|| day.to_string())
}

/// `am`, `pm` and the words fugit reads as such after an hour.
fn meridiem(word: &str) -> Option<&'static str> {
    Some(match word.to_ascii_lowercase().as_str() {
        "am" => "am",
        "pm" => "pm",
        "noon" | "midday" => "noon",
        "midnight" => "midnight",
        _ => return None,
    })
}

/// fugit's 12-hour reading: `12 am` and `12 midnight` are 0, `pm` adds 12 below noon.
fn adjust_hour(hour: u32, meridiem: Option<&str>) -> u32 {
    match meridiem {
        Some("midnight") if hour == 12 => 0,
        Some("pm") if hour < 12 => hour + 12,
        Some("am") if hour == 12 => 0,
        _ if hour == 24 => 0,
        _ => hour,
    }
}

/// `16:30`, `8:30pm` (the meridiem glued on or not) split into hour and minute.
fn digital_time(word: &str) -> Option<(u32, u32, Option<&'static str>)> {
    let (clock, glued) = split_meridiem(word);
    let (hour, minute) = clock.split_once(':')?;
    if hour.is_empty() || hour.len() > 2 || minute.len() != 2 {
        return None;
    }
    let hour: u32 = hour.parse().ok()?;
    let minute: u32 = minute.parse().ok()?;
    (hour <= 24 && minute <= 59).then_some((hour, minute, glued))
}

/// `5pm` → (`5`, pm); `5` → (`5`, none).
fn split_meridiem(word: &str) -> (&str, Option<&'static str>) {
    let lower = word.to_ascii_lowercase();
    for suffix in ["am", "pm"] {
        if lower.len() > 2 && lower.ends_with(suffix) {
            return (&word[..word.len() - 2], meridiem(suffix));
        }
    }
    (word, None)
}

fn is_zone(word: &str) -> bool {
    word == "UTC"
        || word == "Z"
        || (word.contains('/') && word.starts_with(|c: char| c.is_ascii_uppercase()))
}

/// What the words said, before it becomes cron fields.
#[derive(Debug, Default)]
struct Said {
    /// `every [N] unit [starting at unit K]`.
    interval: Option<(Unit, u32, Option<u32>)>,
    weekdays: Vec<String>,
    monthdays: Vec<String>,
    /// Times of day, in the order given, as (hour, minute).
    times: Vec<(u32, u32)>,
    /// `8am to 5pm`.
    hour_range: Option<(u32, u32)>,
    /// `at minute 50`, `on minute 10 and 30`, `on the minute` (`*`).
    minutes: Vec<String>,
    seconds: Vec<String>,
    zone: Option<String>,
}

struct Reader<'a> {
    text: &'a str,
    words: Vec<&'a str>,
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.words.get(self.at).copied()
    }

    fn peek_lower(&self, ahead: usize) -> String {
        self.words
            .get(self.at + ahead)
            .map(|w| w.to_ascii_lowercase())
            .unwrap_or_default()
    }

    fn take(&mut self) -> Option<&'a str> {
        let word = self.peek()?;
        self.at += 1;
        Some(word)
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.peek_lower(0) == word {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// `and`, `or` and commas between the items of a list.
    fn eat_joiners(&mut self) -> bool {
        let mut any = false;
        while matches!(self.peek_lower(0).as_str(), "," | "and" | "or") {
            self.at += 1;
            any = true;
        }
        any
    }

    fn refuse(&self, why: &str) -> String {
        match self.peek() {
            Some(word) => format!(
                "not a natural-language cron Ferrokiq understands: {:?} ({why} at {word:?})",
                self.text
            ),
            None => format!(
                "not a natural-language cron Ferrokiq understands: {:?} ({why} at the end)",
                self.text
            ),
        }
    }
}

/// The cron lines `text` stands for: one, or several when its times do not share a pattern
/// (`every day at 18:15 and 20:45` is `15 18 * * *` and `45 20 * * *`).
pub fn crons(text: &str) -> Result<Vec<String>, String> {
    if text.len() > 256 {
        return Err(format!(
            "a natural-language cron is at most 256 characters long: {text:?}"
        ));
    }
    let spaced = text.replace(',', " , ");
    let mut reader = Reader {
        text,
        words: spaced.split_whitespace().collect(),
        at: 0,
    };
    let mut said = Said::default();
    while reader.peek().is_some() {
        if reader.eat_joiners() {
            continue;
        }
        read_element(&mut reader, &mut said)?;
    }
    render(text, &said)
}

fn read_element(reader: &mut Reader, said: &mut Said) -> Result<(), String> {
    let word = reader.peek().unwrap_or_default();
    let lower = word.to_ascii_lowercase();
    match lower.as_str() {
        "every" => {
            reader.at += 1;
            read_every(reader, said)
        }
        "from" => {
            reader.at += 1;
            read_from(reader, said)
        }
        "at" => {
            reader.at += 1;
            read_at(reader, said)
        }
        "on" => {
            reader.at += 1;
            read_on(reader, said)
        }
        "in" => {
            reader.at += 1;
            read_zone(reader, said)
        }
        _ if is_zone(word) => read_zone(reader, said),
        _ if weekday(word).is_some()
            || word.contains('-') && weekday_range_word(word).is_some() =>
        {
            read_weekdays(reader, said)
        }
        _ => read_times(reader, said),
    }
}

fn read_zone(reader: &mut Reader, said: &mut Said) -> Result<(), String> {
    match reader.peek() {
        Some(word) if is_zone(word) && said.zone.is_none() => {
            said.zone = Some(word.to_string());
            reader.at += 1;
            Ok(())
        }
        _ => Err(reader.refuse("expected a time zone")),
    }
}

fn read_every(reader: &mut Reader, said: &mut Said) -> Result<(), String> {
    let word = reader
        .peek()
        .ok_or_else(|| reader.refuse("expected what follows every"))?;
    let lower = word.to_ascii_lowercase();
    if lower == "weekday" {
        reader.at += 1;
        said.weekdays.push("1-5".to_string());
        return Ok(());
    }
    if weekday(word).is_some() || weekday_range_word(word).is_some() {
        return read_weekdays(reader, said);
    }
    if ordinal_day(word).is_some() && is_of_the_month(reader, 1)
        || ordinal_list_of_the_month(reader)
    {
        return read_ordinals_of_the_month(reader, said);
    }
    // `every 5 minutes`, `every 5m`, `every minute`.
    let glued_at = word
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(word.len());
    let (count, unit_word) = if glued_at == word.len() {
        let count: u32 = word
            .parse()
            .map_err(|_| reader.refuse("expected a count"))?;
        reader.at += 1;
        let unit = reader
            .peek()
            .ok_or_else(|| reader.refuse("expected a unit"))?;
        (count, unit)
    } else if glued_at > 0 {
        let count = word[..glued_at]
            .parse()
            .map_err(|_| reader.refuse("expected a count"))?;
        (count, &word[glued_at..])
    } else {
        (1, word)
    };
    let unit = Unit::parse(unit_word).ok_or_else(|| reader.refuse("expected a unit"))?;
    if said.interval.is_some() {
        return Err(reader.refuse("a second interval"));
    }
    reader.at += 1;
    if count == 0 || count > unit.largest_step() {
        return Err(format!(
            "not a natural-language cron Ferrokiq understands: {:?} (every {count} {unit_word} \
             has no cron equivalent)",
            reader.text
        ));
    }
    // `starting at minute 1`, `from second 10`.
    let mut offset = None;
    let starts = reader.peek_lower(0) == "starting" && reader.peek_lower(1) == "at";
    let from = reader.peek_lower(0) == "from" && Unit::parse(&reader.peek_lower(1)).is_some();
    if starts || from {
        reader.at += if starts { 2 } else { 1 };
        let offset_unit = reader.take().and_then(Unit::parse);
        if offset_unit != Some(unit) {
            return Err(reader.refuse("the offset is not in the interval's unit"));
        }
        let value = reader
            .take()
            .and_then(|word| word.parse().ok())
            .ok_or_else(|| reader.refuse("expected a number"))?;
        offset = Some(value);
    }
    said.interval = Some((unit, count, offset));
    Ok(())
}

fn is_of_the_month(reader: &Reader, ahead: usize) -> bool {
    reader.peek_lower(ahead) == "of"
        && reader.peek_lower(ahead + 1) == "the"
        && reader.peek_lower(ahead + 2) == "month"
}

/// `1st and 15th of the month`: a list of ordinals that ends with `of the month`.
fn ordinal_list_of_the_month(reader: &Reader) -> bool {
    let mut ahead = 0;
    loop {
        let word = reader.peek_lower(ahead);
        if ordinal_day(&word).is_none() {
            return false;
        }
        ahead += 1;
        if is_of_the_month(reader, ahead) {
            return true;
        }
        while matches!(
            reader.peek_lower(ahead).as_str(),
            "," | "and" | "or" | "the"
        ) {
            ahead += 1;
        }
    }
}

fn read_ordinals_of_the_month(reader: &mut Reader, said: &mut Said) -> Result<(), String> {
    read_ordinals(reader, said)?;
    if !(reader.eat("of") && reader.eat("the") && reader.eat("month")) {
        return Err(reader.refuse("expected of the month"));
    }
    Ok(())
}

/// `1st`, `the 1st and the last`, `first, second`.
fn read_ordinals(reader: &mut Reader, said: &mut Said) -> Result<(), String> {
    loop {
        reader.eat("the");
        let day = reader
            .peek()
            .and_then(ordinal_day)
            .ok_or_else(|| reader.refuse("expected a day of the month"))?;
        reader.at += 1;
        said.monthdays.push(day);
        let mark = reader.at;
        reader.eat_joiners();
        reader.eat("the");
        if reader.peek().and_then(ordinal_day).is_none() {
            reader.at = mark;
            return Ok(());
        }
    }
}

/// `mon-thu`, `Fri-Sun` as one word.
fn weekday_range_word(word: &str) -> Option<(u32, u32)> {
    let (from, to) = word.split_once('-')?;
    Some((weekday(from)?, weekday(to)?))
}

fn push_weekday_range(said: &mut Said, from: u32, to: u32) {
    if from <= to {
        said.weekdays.push(format!("{from}-{to}"));
    } else {
        // A range through Sunday (`Fri-Sun`): its days, as fugit lists them.
        let mut day = from;
        loop {
            said.weekdays.push(day.to_string());
            if day == to {
                break;
            }
            day = (day + 1) % 7;
        }
    }
}

/// `monday`, `Mon, Tue, and Wed`, `Mon to Thu`, `Monday through Friday`, `mon-thu`.
fn read_weekdays(reader: &mut Reader, said: &mut Said) -> Result<(), String> {
    loop {
        let word = reader.peek().unwrap_or_default();
        if let Some((from, to)) = weekday_range_word(word) {
            reader.at += 1;
            push_weekday_range(said, from, to);
        } else if let Some(from) = weekday(word) {
            reader.at += 1;
            let through = matches!(reader.peek_lower(0).as_str(), "to" | "through" | "-");
            if through && weekday(&reader.peek_lower(1)).is_some() {
                reader.at += 1;
                let to = reader.take().and_then(weekday).unwrap_or(from);
                push_weekday_range(said, from, to);
            } else {
                said.weekdays.push(from.to_string());
            }
        } else {
            return Err(reader.refuse("expected a weekday"));
        }
        let mark = reader.at;
        reader.eat_joiners();
        let next = reader.peek().unwrap_or_default();
        if weekday(next).is_none() && weekday_range_word(next).is_none() {
            reader.at = mark;
            return Ok(());
        }
    }
}

/// `from monday to friday`, `from the 25th to the last`, `from 8am to 5pm`, `from second 10`
/// (after an interval: read there).
fn read_from(reader: &mut Reader, said: &mut Said) -> Result<(), String> {
    let word = reader.peek().unwrap_or_default();
    if weekday(word).is_some() || weekday_range_word(word).is_some() {
        return read_weekdays(reader, said);
    }
    if reader.peek_lower(0) == "the" || ordinal_day(word).is_some() {
        reader.eat("the");
        let from = reader
            .take()
            .and_then(ordinal_day)
            .ok_or_else(|| reader.refuse("expected a day of the month"))?;
        if !reader.eat("to") {
            return Err(reader.refuse("expected to"));
        }
        reader.eat("the");
        let to = reader
            .peek()
            .and_then(ordinal_day)
            .ok_or_else(|| reader.refuse("expected a day of the month"))?;
        reader.at += 1;
        // `25-L` is the 25th to the month's end, which `25-31` says in any month.
        let to = if to == "L" { "31".to_string() } else { to };
        said.monthdays.push(format!("{from}-{to}"));
        return Ok(());
    }
    read_times(reader, said)
}

/// After `at`: times, or `minute 50`, `second 10 and 40`.
fn read_at(reader: &mut Reader, said: &mut Said) -> Result<(), String> {
    let point = reader.peek_lower(0);
    let field = match point.as_str() {
        "minute" | "minutes" | "min" | "mins" => Some(false),
        "second" | "seconds" | "sec" | "secs" => Some(true),
        _ => None,
    };
    match field {
        Some(seconds) => {
            reader.at += 1;
            let values = read_counts(reader, 59)?;
            if seconds {
                said.seconds.extend(values);
            } else {
                said.minutes.extend(values);
            }
            Ok(())
        }
        None => read_times(reader, said),
    }
}

/// `10 and 30`, `10, 40`: numbers up to `max`.
fn read_counts(reader: &mut Reader, max: u32) -> Result<Vec<String>, String> {
    let mut values = Vec::new();
    loop {
        let value: u32 = reader
            .peek()
            .and_then(|word| word.parse().ok())
            .filter(|value| *value <= max)
            .ok_or_else(|| reader.refuse("expected a number"))?;
        reader.at += 1;
        values.push(value.to_string());
        let mark = reader.at;
        reader.eat_joiners();
        if !reader
            .peek()
            .is_some_and(|word| word.chars().all(|c| c.is_ascii_digit()))
        {
            reader.at = mark;
            return Ok(values);
        }
    }
}

/// `on monday`, `on day 2 and 5`, `on days 1,15`, `on the 1st`, `on the hour`, `on the minute`,
/// `on minute 10 and 30`, `on America/Bogota`.
fn read_on(reader: &mut Reader, said: &mut Said) -> Result<(), String> {
    let word = reader.peek().unwrap_or_default();
    let lower = word.to_ascii_lowercase();
    if is_zone(word) {
        return read_zone(reader, said);
    }
    if weekday(word).is_some() || weekday_range_word(word).is_some() {
        return read_weekdays(reader, said);
    }
    match lower.as_str() {
        "day" | "days" => {
            reader.at += 1;
            said.monthdays.extend(read_counts(reader, 31)?);
            if said.monthdays.iter().any(|day| day == "0") {
                return Err(reader.refuse("days of the month start at 1"));
            }
            Ok(())
        }
        "minute" => {
            reader.at += 1;
            said.minutes.extend(read_counts(reader, 59)?);
            Ok(())
        }
        "the" if reader.peek_lower(1) == "hour" => {
            reader.at += 2;
            said.minutes.push("0".to_string());
            Ok(())
        }
        "the" if reader.peek_lower(1) == "minute" => {
            reader.at += 2;
            said.minutes.push("*".to_string());
            Ok(())
        }
        _ => read_ordinals(reader, said),
    }
}

/// One or more times of day (`five`, `5 pm`, `16:30`, `noon`, `zero dark twenty`), or an hour
/// range (`8am to 5pm`).
fn read_times(reader: &mut Reader, said: &mut Said) -> Result<(), String> {
    loop {
        let (hour, minute) = read_time(reader)?;
        if reader.peek_lower(0) == "to" {
            reader.at += 1;
            let (last, last_minute) = read_time(reader)?;
            if minute != 0 || last_minute != 0 || said.hour_range.is_some() {
                return Err(reader.refuse("an hour range runs from one whole hour to another"));
            }
            said.hour_range = Some((hour, last));
            return Ok(());
        }
        said.times.push((hour, minute));
        let mark = reader.at;
        reader.eat_joiners();
        if reader.peek().is_none_or(|word| time_start(word).is_none()) {
            reader.at = mark;
            return Ok(());
        }
    }
}

/// Whether `word` can start a time.
fn time_start(word: &str) -> Option<()> {
    let (clock, _) = split_meridiem(word);
    let digits = !clock.is_empty()
        && clock.chars().all(|c| c.is_ascii_digit() || c == ':')
        && clock.starts_with(|c: char| c.is_ascii_digit());
    (digits || spelt_hour(word).is_some()).then_some(())
}

fn read_time(reader: &mut Reader) -> Result<(u32, u32), String> {
    let word = reader
        .peek()
        .ok_or_else(|| reader.refuse("expected a time"))?;
    if let Some((hour, minute, glued)) = digital_time(word) {
        reader.at += 1;
        let meridiem = glued.or_else(|| read_meridiem(reader));
        return Ok((adjust_hour(hour, meridiem), minute));
    }
    let (clock, glued) = split_meridiem(word);
    if let Ok(hour) = clock.parse::<u32>() {
        if hour > 24 {
            return Err(reader.refuse("not an hour"));
        }
        reader.at += 1;
        let meridiem = glued.or_else(|| read_meridiem(reader));
        return Ok((adjust_hour(hour, meridiem), 0));
    }
    if let Some(hour) = spelt_hour(word) {
        reader.at += 1;
        reader.eat("dark");
        let next = reader.peek_lower(0);
        let minute = match next.as_str() {
            "o'clock" | "hundred" => {
                reader.at += 1;
                0
            }
            _ => match spelt_number(&next) {
                Some(minute) if !matches!(next.as_str(), "noon" | "midnight") => {
                    reader.at += 1;
                    minute
                }
                _ => 0,
            },
        };
        let meridiem = read_meridiem(reader);
        return Ok((adjust_hour(hour, meridiem), minute));
    }
    Err(reader.refuse("expected a time"))
}

fn read_meridiem(reader: &mut Reader) -> Option<&'static str> {
    let found = meridiem(reader.peek()?)?;
    reader.at += 1;
    Some(found)
}

fn step(count: u32, offset: Option<u32>) -> String {
    match (count, offset) {
        (count, Some(offset)) => format!("{offset}/{count}"),
        (1, None) => "*".to_string(),
        (count, None) => format!("*/{count}"),
    }
}

fn joined(values: &[String]) -> String {
    let mut values: Vec<&String> = values.iter().collect();
    values.sort_by_key(|value| (value.parse::<u32>().unwrap_or(u32::MAX), value.to_string()));
    values.dedup();
    values
        .iter()
        .map(|value| value.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Times grouped as fugit groups them: the hours of each minute, then the minutes that share
/// the same hours; each group is one cron's (minutes, hours).
fn time_groups(times: &[(u32, u32)]) -> Vec<(String, String)> {
    let mut by_minute: Vec<(u32, Vec<u32>)> = Vec::new();
    for (hour, minute) in times {
        match by_minute.iter_mut().find(|(m, _)| m == minute) {
            Some((_, hours)) => hours.push(*hour),
            None => by_minute.push((*minute, vec![*hour])),
        }
    }
    let mut groups: Vec<(Vec<u32>, Vec<u32>)> = Vec::new();
    for (minute, mut hours) in by_minute {
        hours.sort_unstable();
        hours.dedup();
        match groups.iter_mut().find(|(h, _)| *h == hours) {
            Some((_, minutes)) => minutes.push(minute),
            None => groups.push((hours, vec![minute])),
        }
    }
    let list = |values: &[u32]| {
        let mut values = values.to_vec();
        values.sort_unstable();
        values.dedup();
        values
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    groups
        .iter()
        .map(|(hours, minutes)| (list(minutes), list(hours)))
        .collect()
}

fn render(text: &str, said: &Said) -> Result<Vec<String>, String> {
    let refuse =
        |why: &str| format!("not a natural-language cron Ferrokiq understands: {text:?} ({why})");
    let mut second = if said.seconds.is_empty() {
        "0".to_string()
    } else {
        joined(&said.seconds)
    };
    let mut day = if said.monthdays.is_empty() {
        "*".to_string()
    } else {
        joined(&said.monthdays)
    };
    let mut month = "*".to_string();
    let mut weekday = if said.weekdays.is_empty() {
        "*".to_string()
    } else {
        joined(&said.weekdays)
    };
    let minutes = (!said.minutes.is_empty()).then(|| joined(&said.minutes));
    let sub_daily = matches!(
        said.interval,
        Some((Unit::Second | Unit::Minute | Unit::Hour, _, _))
    );
    if sub_daily && !said.times.is_empty() {
        return Err(refuse("times of day with an interval under a day"));
    }
    if !said.seconds.is_empty() && !matches!(said.interval, Some((Unit::Minute, 1, None))) {
        return Err(refuse("a second of the minute without every minute"));
    }
    // (minute, hour) of each cron.
    let mut clock: Vec<(String, String)> = Vec::new();
    match said.interval {
        Some((Unit::Second, count, offset)) => {
            second = step(count, offset);
            clock.push(("*".to_string(), "*".to_string()));
        }
        Some((Unit::Minute, count, offset)) => {
            let hours = match said.hour_range {
                Some((first, last)) => format!("{first}-{}", last.saturating_sub(1)),
                None => "*".to_string(),
            };
            clock.push((step(count, offset), hours));
        }
        Some((Unit::Hour, count, offset)) => {
            let hours = match said.hour_range {
                Some((first, last)) => format!("{first}-{last}"),
                None => step(count, offset),
            };
            clock.push((minutes.clone().unwrap_or_else(|| "0".to_string()), hours));
        }
        _ => {
            match said.interval {
                Some((Unit::Day, count, offset)) if count > 1 || offset.is_some() => {
                    if !said.monthdays.is_empty() {
                        return Err(refuse("days of the month with every few days"));
                    }
                    day = step(count, offset);
                }
                Some((Unit::Week, _, _)) if said.weekdays.is_empty() => weekday = "0".into(),
                Some((Unit::Month, count, offset)) => {
                    month = step(count, offset);
                    if said.monthdays.is_empty() {
                        day = "1".to_string();
                    }
                }
                Some((Unit::Year, _, _)) => {
                    month = "1".to_string();
                    if said.monthdays.is_empty() {
                        day = "1".to_string();
                    }
                }
                _ => {}
            }
            if !said.times.is_empty() {
                if said.hour_range.is_some() || minutes.is_some() {
                    return Err(refuse("times of day with an hour range or minutes"));
                }
                clock = time_groups(&said.times);
            } else if let Some((first, last)) = said.hour_range {
                match &minutes {
                    Some(minutes) if minutes != "0" => clock.push((
                        minutes.clone(),
                        format!("{first}-{}", last.saturating_sub(1)),
                    )),
                    _ => clock.push(("0".to_string(), format!("{first}-{last}"))),
                }
            } else if minutes.is_some() {
                return Err(refuse("minutes of the hour without hours"));
            } else {
                clock.push(("0".to_string(), "0".to_string()));
            }
        }
    }
    let anything = said.interval.is_some()
        || !said.weekdays.is_empty()
        || !said.monthdays.is_empty()
        || !said.times.is_empty()
        || said.hour_range.is_some();
    if !anything {
        return Err(refuse("no time or interval"));
    }
    Ok(clock
        .into_iter()
        .map(|(minute, hour)| {
            let mut fields = Vec::with_capacity(7);
            if second != "0" {
                fields.push(second.clone());
            }
            fields.extend([minute, hour, day.clone(), month.clone(), weekday.clone()]);
            if let Some(zone) = &said.zone {
                fields.push(zone.clone());
            }
            fields.join(" ")
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> String {
        match crons(text) {
            Ok(lines) => lines.join(" | "),
            Err(why) => format!("error: {why}"),
        }
    }

    /// Vectors from fugit's own examples (its nat specs); where fugit writes hour 24 for
    /// midnight, a range through Sunday as `5-0`, or `25-L`, the line here says the same
    /// thing as croner reads it (`0`, `0,5,6`, `25-31`).
    #[test]
    fn reads_fugits_examples() {
        let vectors = [
            ("every day at five", "0 5 * * *"),
            ("every weekday", "0 0 * * 1-5"),
            ("every weekday at five", "0 5 * * 1-5"),
            ("every weekday at five pm", "0 17 * * 1-5"),
            ("every day at 5 pm", "0 17 * * *"),
            ("every monday", "0 0 * * 1"),
            ("every tuesday at 5 pm", "0 17 * * 2"),
            ("every wed at 5 pm", "0 17 * * 3"),
            ("every day at 16:30", "30 16 * * *"),
            ("every day at noon", "0 12 * * *"),
            ("every day at midnight", "0 0 * * *"),
            (
                "every day at 5 pm on America/Bogota",
                "0 17 * * * America/Bogota",
            ),
            ("every day at 5 pm in Asia/Tokyo", "0 17 * * * Asia/Tokyo"),
            ("every day at 5 pm in Etc/GMT-11", "0 17 * * * Etc/GMT-11"),
            ("every 3h", "0 */3 * * *"),
            ("every 3 hours", "0 */3 * * *"),
            ("every 4M", "0 0 1 */4 *"),
            ("every 4 months", "0 0 1 */4 *"),
            ("every 5m", "*/5 * * * *"),
            ("every 5 min", "*/5 * * * *"),
            ("every 5 minutes", "*/5 * * * *"),
            ("every 15s", "*/15 * * * * *"),
            ("every 15 sec", "*/15 * * * * *"),
            ("every 15 seconds", "*/15 * * * * *"),
            ("every 1 h", "0 * * * *"),
            ("every 12 hours at minute 50", "50 */12 * * *"),
            ("every 12h at min 50", "50 */12 * * *"),
            ("every 1st of the month at midnight", "0 0 1 * *"),
            ("every first of the month at midnight", "0 0 1 * *"),
            ("Every 2nd of the month at 10:00", "0 10 2 * *"),
            ("Every second of the month at 10:00", "0 10 2 * *"),
            ("every month on day 2 at 10:00", "0 10 2 * *"),
            ("every month on day 2 and 5 at 10:00", "0 10 2,5 * *"),
            ("every month on days 1,15 at 10:00", "0 10 1,15 * *"),
            ("every month on the 1st at 11:00", "0 11 1 * *"),
            ("every 15th of the month", "0 0 15 * *"),
            ("every month on the 1st and 2nd at 12:00 pm", "0 12 1,2 * *"),
            (
                "every month on the 1st and the 2nd at 12:00 pm",
                "0 12 1,2 * *",
            ),
            (
                "every month on the 1st and the second at 12:00 pm",
                "0 12 1,2 * *",
            ),
            (
                "every month on the 1st and last at 12:00 pm",
                "0 12 1,L * *",
            ),
            ("every day at 6pm and 8pm", "0 18,20 * * *"),
            ("every day at 6pm and 8pm UTC", "0 18,20 * * * UTC"),
            ("every day at 18:00 and 20:00", "0 18,20 * * *"),
            ("every day at 8:30", "30 8 * * *"),
            ("every day at 08:30 am", "30 8 * * *"),
            ("every day at 8:30 AM", "30 8 * * *"),
            ("every day at 08:30 PM", "30 20 * * *"),
            ("every day at 5:00pm", "0 17 * * *"),
            ("every day at 12am", "0 0 * * *"),
            ("every day at 12pm", "0 12 * * *"),
            ("every day at 12:15am", "15 0 * * *"),
            ("every day at 12:15 pm", "15 12 * * *"),
            ("every day at 12 noon", "0 12 * * *"),
            ("every day at 12 midnight", "0 0 * * *"),
            ("every day at 12:15 midnight", "15 0 * * *"),
            ("every friday and thursday", "0 0 * * 4,5"),
            ("every tuesday and monday at 5pm", "0 17 * * 1,2"),
            ("every wed or Monday at 5pm and 11", "0 11,17 * * 1,3"),
            ("every Mon,Tue,Wed,Thu,Fri at 18:00", "0 18 * * 1,2,3,4,5"),
            ("every Mon, Tue, and Wed at 18:15", "15 18 * * 1,2,3"),
            ("every Mon to Thu at 18:20", "20 18 * * 1-4"),
            ("every Mon to Thu, 18:20", "20 18 * * 1-4"),
            ("every mon-thu at 18:20", "20 18 * * 1-4"),
            ("every Monday through Friday at 19:20", "20 19 * * 1-5"),
            ("from Monday through Friday at 19:21", "21 19 * * 1-5"),
            ("from Monday to Friday at 19:22", "22 19 * * 1-5"),
            ("every Fri-Sun at 18:00 UTC", "0 18 * * 0,5,6 UTC"),
            ("every day at 18:00 and 18:15", "0,15 18 * * *"),
            (
                "every day at 18:00, 18:15, 20:00, and 20:15",
                "0,15 18,20 * * *",
            ),
            ("every second", "* * * * * *"),
            ("every 1 second", "* * * * * *"),
            ("every minute", "* * * * *"),
            ("every hour", "0 * * * *"),
            ("every day", "0 0 * * *"),
            ("every 1 day", "0 0 * * *"),
            ("every week", "0 0 * * 0"),
            ("every month", "0 0 1 * *"),
            ("every year", "0 0 1 1 *"),
            ("every minute at second 10", "10 * * * * *"),
            ("every minute at second 10 and 40", "10,40 * * * * *"),
            ("every minute at secs 10 and 40", "10,40 * * * * *"),
            ("every hour at min 11", "11 * * * *"),
            ("every week on monday 18:23", "23 18 * * 1"),
            ("every monday 18:24", "24 18 * * 1"),
            ("every month at 19:10", "10 19 1 * *"),
            ("every year at 20:10", "10 20 1 1 *"),
            ("every day at zero dark twenty", "20 0 * * *"),
            ("every day at oh dark forty", "40 0 * * *"),
            ("every day at one dark fifty", "50 1 * * *"),
            ("every 2 days", "0 0 */2 * *"),
            ("every 2 days at 17:00", "0 17 */2 * *"),
            ("every 2 months", "0 0 1 */2 *"),
            ("every day from the 25th to the last", "0 0 25-31 * *"),
            (
                "every day at noon from the 25th to the last",
                "0 12 25-31 * *",
            ),
            ("from the 25th to the last", "0 0 25-31 * *"),
            (
                "from the 25th to the last, at noon and midnight",
                "0 0,12 25-31 * *",
            ),
            ("every second starting at second 10", "10/1 * * * * *"),
            ("every second from second 10", "10/1 * * * * *"),
            ("every 15 minutes starting at minute 1", "1/15 * * * *"),
            ("every hour starting at hour 8", "0 8/1 * * *"),
            ("every 5 days starting at day 3", "0 0 3/5 * *"),
            ("every month starting at month 6", "0 0 1 6/1 *"),
            ("every weekday 8am to 5pm", "0 8-17 * * 1-5"),
            ("every weekday 8am to 5pm on the hour", "0 8-17 * * 1-5"),
            ("every weekday 8am to 5pm on the minute", "* 8-16 * * 1-5"),
            (
                "every weekday 8am to 5pm on minute 10 and 30",
                "10,30 8-16 * * 1-5",
            ),
            ("every hour, 8am to 5pm", "0 8-17 * * *"),
            ("every hour, from 8am to 5pm", "0 8-17 * * *"),
            ("every minute, 8am to 5pm", "* 8-16 * * *"),
            ("every minute from 8am to 5pm", "* 8-16 * * *"),
            ("at 12:00 PM", "0 12 * * *"),
            ("at 12:00PM", "0 12 * * *"),
            ("at 12 PM", "0 12 * * *"),
            ("at 12pm", "0 12 * * *"),
            ("at noon", "0 12 * * *"),
            ("at midnight", "0 0 * * *"),
            ("at 12 Noon", "0 12 * * *"),
            ("at 12 midday", "0 12 * * *"),
            ("at 12 midnight", "0 0 * * *"),
            ("every 17 hours", "0 */17 * * *"),
            (
                "every day at midnight America/Los_Angeles",
                "0 0 * * * America/Los_Angeles",
            ),
            ("every 60 minutes", "*/60 * * * *"),
            (" \nevery day at five \n", "0 5 * * *"),
        ];
        for (text, cron) in vectors {
            assert_eq!(one(text), cron, "{text:?}");
            crate::periodic::CronRule::parse(cron).unwrap_or_else(|why| panic!("{why}"));
        }
    }

    #[test]
    fn times_that_share_no_pattern_are_several_crons() {
        assert_eq!(
            crons("every day at 18:15 and 20:45").unwrap(),
            ["15 18 * * *", "45 20 * * *"]
        );
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for text in [
            "nada",
            "every 2 years",
            "every 2 weeks",
            "every 90 minutes",
            "every 100 minutes",
            "every day at teatime",
            "every 5 minutes at 10:00",
            "every blue moon",
            "every",
        ] {
            let why = crons(text).expect_err(text);
            assert!(why.contains(text.trim()), "{why}");
        }
        assert!(crons(&"a".repeat(300)).is_err());
    }
}
