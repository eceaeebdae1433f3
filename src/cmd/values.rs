//! Parsers of flag values that more than one command takes.

use std::time::Duration;

use crate::limits::check_uid;
pub(crate) use crate::session::parse_bit_rate;
use crate::session::BITS_PER_KB;

/// A positive number of seconds, fractions allowed (`0.5`).
pub(crate) fn parse_seconds(value: &str) -> Result<Duration, String> {
    let seconds: f64 = value
        .parse()
        .map_err(|_| format!("{value:?} is not a number of seconds"))?;
    match Duration::try_from_secs_f64(seconds) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(format!("{value:?}: give a positive number of seconds")),
    }
}

/// A duration as the flags take one: `90` (seconds), `90s`, `30m`, `12h`, `7d`, `2w`, or such
/// parts together (`1h30m`). Positive, at most ten years.
pub(crate) fn parse_duration(value: &str) -> Result<Duration, String> {
    let text = value.trim().to_ascii_lowercase();
    let parsed = match text.parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(&text),
    };
    let duration = parsed.map_err(|_| {
        format!("{value:?} is not a duration: give e.g. 90s, 30m, 12h, 7d or 1h30m")
    })?;
    bounded_duration(duration, value)
}

fn bounded_duration(duration: Duration, value: &str) -> Result<Duration, String> {
    const TEN_YEARS: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
    match duration {
        d if d.is_zero() => Err(format!("{value:?}: give a positive duration")),
        d if d > TEN_YEARS => Err(format!("{value:?}: give at most ten years (3650d)")),
        d => Ok(d),
    }
}

/// A session's rate for `Request.rate`: [`parse_bit_rate`] in kb/s, which must fit the
/// protocol's int32 (2.1 Tbit/s); 0 asks for no limit.
pub(crate) fn parse_rate_kbps(value: &str) -> Result<i32, String> {
    let bits = parse_bit_rate(value)?;
    let kbps = bits.div_ceil(BITS_PER_KB);
    i32::try_from(kbps).map_err(|_| {
        format!(
            "{value:?} is above the protocol's largest rate, {} kb/s (2.1 Tbit/s)",
            i32::MAX
        )
    })
}

/// A session uid as the server accepts one, checked before it is printed or sent.
pub(crate) fn parse_uid(value: &str) -> Result<String, String> {
    check_uid(value).map(|()| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_must_be_positive_and_finite() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["0", "-1", "soon", "NaN", "inf", "1e30"] {
            assert!(parse_seconds(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn durations_take_units_and_refuse_nonsense() {
        let secs = |s| parse_duration(s).map(|d| d.as_secs());
        assert_eq!(secs("90"), Ok(90));
        assert_eq!(secs("90s"), Ok(90));
        assert_eq!(secs("30m"), Ok(1800));
        assert_eq!(secs("12H"), Ok(43_200));
        assert_eq!(secs("7d"), Ok(604_800));
        assert_eq!(secs("1h30m"), Ok(5400));
        assert_eq!(secs("2w"), Ok(1_209_600));
        assert_eq!(secs("1.5h"), Ok(5400));
        let bad = ["", "0", "0s", "h", "-1h", "5000d", "1h30", "7x"];
        for bad in bad.into_iter().chain(["99999999999999999999d"]) {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_session_rate_is_sent_in_kb_per_second_within_int32() {
        assert_eq!(parse_rate_kbps("10000"), Ok(10_000));
        assert_eq!(parse_rate_kbps("500M"), Ok(500_000));
        assert_eq!(parse_rate_kbps("1500"), Ok(1_500));
        assert_eq!(parse_rate_kbps("1.5k"), Ok(2), "rounded up, never to 0");
        assert_eq!(parse_rate_kbps("2T"), Ok(2_000_000_000));
        assert!(parse_rate_kbps("3T").unwrap_err().contains("2.1 Tbit/s"));
    }

    #[test]
    fn uids_are_checked_as_the_server_checks_them() {
        assert_eq!(parse_uid("4f1c-aa").as_deref(), Ok("4f1c-aa"));
        for bad in ["", "a b", "new\nline", "\u{1b}[31m", &"x".repeat(129)] {
            assert!(parse_uid(bad).is_err(), "{bad:?} accepted");
        }
    }
}
