//! Time as text: the one parser and the one formatter of every file and message kessler reads or writes (FITS
//! DATE-OBS, JSON sidecars, frame envelopes, CCSDS TDM/OEM/OMM, the review page).
//!
//! Accepted: `YYYY-MM-DDThh:mm:ss[.f...]` (ISO 8601 extended, calendar date) and `YYYY-DDDThh:mm:ss[.f...]`
//! (day of year, CCSDS 301.0-B-4 ASCII time code B), a space allowed for the `T`, and an optional `Z`. Fractions
//! keep up to nanoseconds (further digits are cut). Second 60 is accepted only where the time scale has a leap
//! second (hifitime's calendar decides); every field is range-checked, and nothing here panics on any input
//! (fuzz/fuzz_targets/utc.rs).

use hifitime::{Duration, Epoch, TimeScale};

/// Why a time text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a time YYYY-MM-DDThh:mm:ss[.f] (or YYYY-DDDThh:mm:ss[.f])")]
pub struct UtcError {
    pub text: String,
}

/// The calendar fields of a time text.
struct Fields {
    year: i32,
    /// (month, day) or the day of the year.
    date: Date,
    hour: u8,
    minute: u8,
    second: u8,
    nanos: u32,
}

enum Date {
    MonthDay(u8, u8),
    DayOfYear(u16),
}

/// A run of ASCII digits as a number in `lo..=hi`.
fn number(s: &str, lo: u32, hi: u32) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|v| (lo..=hi).contains(v))
}

fn fields(text: &str) -> Option<Fields> {
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = text.split_once(['T', ' '])?;
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.split(':').collect();
    let [hour, minute, seconds] = t[..] else {
        return None;
    };
    if d.first()?.len() != 4 {
        return None;
    }
    let year = number(d[0], 1, 9999)? as i32;
    let date = match d[..] {
        [_, month, day] if month.len() == 2 && day.len() == 2 => {
            Date::MonthDay(number(month, 1, 12)? as u8, number(day, 1, 31)? as u8)
        }
        [_, doy] if doy.len() == 3 => Date::DayOfYear(number(doy, 1, 366)? as u16),
        _ => return None,
    };
    let (whole, frac) = seconds.split_once('.').unwrap_or((seconds, ""));
    if hour.len() != 2 || minute.len() != 2 || whole.len() != 2 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = &frac[..frac.len().min(9)];
    let nanos = if digits.is_empty() {
        0
    } else {
        digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32)
    };
    Some(Fields {
        year,
        date,
        hour: number(hour, 0, 23)? as u8,
        minute: number(minute, 0, 59)? as u8,
        second: number(whole, 0, 60)? as u8,
        nanos,
    })
}

/// The epoch of a UTC time text.
pub fn parse(text: &str) -> Result<Epoch, UtcError> {
    parse_on(text, TimeScale::UTC)
}

/// The epoch of a time text on `scale` (a TDM's TIME_SYSTEM, say).
pub fn parse_on(text: &str, scale: TimeScale) -> Result<Epoch, UtcError> {
    let refuse = || UtcError {
        text: text.to_string(),
    };
    let f = fields(text.trim()).ok_or_else(refuse)?;
    let leap = f.year % 4 == 0 && (f.year % 100 != 0 || f.year % 400 == 0);
    let (month, day, extra_days) = match f.date {
        Date::MonthDay(month, day) => {
            let days = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            if day > days[month as usize - 1] {
                return Err(refuse());
            }
            (month, day, 0)
        }
        Date::DayOfYear(doy) if doy <= 365 + u16::from(leap) => (1, 1, doy - 1),
        Date::DayOfYear(_) => return Err(refuse()),
    };
    // hifitime refuses (its from_gregorian functions panic on) what its calendar cannot hold, such as second 60
    // away from a leap second; the day of the year is added as days, which cannot fall on one.
    let epoch = Epoch::maybe_from_gregorian(
        f.year, month, day, f.hour, f.minute, f.second, f.nanos, scale,
    )
    .map_err(|_| refuse())?;
    Ok(epoch + Duration::from_days(f64::from(extra_days)))
}

/// `t` as UTC text, `YYYY-MM-DDThh:mm:ss` with `decimals` (0-9) digits of the second, rounded.
pub fn format(t: Epoch, decimals: u32) -> String {
    let decimals = decimals.min(9);
    let unit_ns = 10u64.pow(9 - decimals);
    let (y, mo, d, h, mi, s, ns) = t
        .round(Duration::from_total_nanoseconds(unit_ns as i128))
        .to_gregorian_utc();
    let mut out = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    if decimals > 0 {
        out += &format!(
            ".{:0width$}",
            u64::from(ns) / unit_ns,
            width = decimals as usize
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_round_trip_and_fields_are_checked() {
        let t = Epoch::from_gregorian_utc(2006, 6, 26, 22, 0, 1, 250_000_000);
        for text in [
            "2006-06-26T22:00:01.25",
            "2006-06-26 22:00:01.250",
            "2006-06-26T22:00:01.250000000Z",
            "2006-177T22:00:01.25",
        ] {
            assert_eq!(parse(text), Ok(t), "{text}");
        }
        assert_eq!(format(t, 3), "2006-06-26T22:00:01.250");
        assert_eq!(format(t, 0), "2006-06-26T22:00:01");
        assert_eq!(parse(&format(t, 9)), Ok(t));
        // Rounding carries into the minute.
        let late = Epoch::from_gregorian_utc(2006, 6, 26, 22, 0, 59, 999_600_000);
        assert_eq!(format(late, 3), "2006-06-26T22:01:00.000");
        // The leap second of 2005-12-31 exists; the one of 2006-06-30 does not.
        assert!(parse("2005-12-31T23:59:60.5").is_ok());
        for bad in [
            "2006-06-31T00:00:00",
            "2006-02-29T00:00:00",
            "2006-366T00:00:00",
            "2006-06-30T23:59:60",
            "2006-06-26T24:00:00",
            "2006-06-26T22:00:01.2x",
            "2006-6-26T22:00:01",
            "+2006-06-26T22:00:01",
            "2006-06-26T22:00",
            "",
            "T::",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.text, bad, "{bad}");
        }
        assert_eq!(
            parse_on("2006-06-26T22:00:33.25", TimeScale::TAI),
            Ok(Epoch::from_gregorian_tai(
                2006,
                6,
                26,
                22,
                0,
                33,
                250_000_000
            ))
        );
    }
}
