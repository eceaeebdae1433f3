//! Parsers of flag values that more than one command takes.

use std::time::Duration;

use crate::limits::check_uid;
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

/// A rate as flags take one: kb/s (`Request.rate`'s unit, as upstream's `--rate 10000`), or
/// bits per second with a decimal unit: `500M`, `2.5G` (also `500Mbit/s`, `500Mbps`). In bits
/// per second.
pub(crate) fn parse_bit_rate(value: &str) -> Result<u64, String> {
    const UNITS: [(&str, f64); 4] = [("k", 1e3), ("m", 1e6), ("g", 1e9), ("t", 1e12)];
    let lower = value.trim().to_ascii_lowercase();
    let bare = ["bit/s", "bps", "b/s"]
        .iter()
        .find_map(|suffix| lower.strip_suffix(suffix))
        .unwrap_or(&lower);
    let (number, scale) = match UNITS.iter().find(|(unit, _)| bare.ends_with(unit)) {
        Some((unit, scale)) => (&bare[..bare.len() - unit.len()], *scale),
        None if bare.len() == lower.len() => (bare, BITS_PER_KB as f64),
        None => {
            return Err(format!(
                "{value:?}: give a unit K, M, G or T before {:?}",
                &lower[bare.len()..]
            ))
        }
    };
    let bits = number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| (n * scale).round())
        .ok_or_else(|| {
            format!("{value:?} is not a rate: give kb/s (10000) or bits per second with a unit (500M, 2G)")
        })?;
    match bits < u64::MAX as f64 {
        true => Ok(bits as u64),
        false => Err(format!("{value:?} is too large a rate")),
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
    fn a_bare_rate_is_kb_per_second_and_units_are_bits_per_second() {
        assert_eq!(parse_bit_rate("10000"), Ok(10_000_000));
        assert_eq!(parse_bit_rate("500M"), Ok(500_000_000));
        assert_eq!(parse_bit_rate("2g"), Ok(2_000_000_000));
        assert_eq!(parse_bit_rate("2.5Gbit/s"), Ok(2_500_000_000));
        assert_eq!(parse_bit_rate("40Gbps"), Ok(40_000_000_000));
        assert_eq!(parse_bit_rate("0"), Ok(0));
        for bad in [
            "",
            "fast",
            "-1",
            "1X",
            "5 mbit/s/s",
            "NaN",
            "inf",
            "1e30T",
            "10bps",
        ] {
            assert!(parse_bit_rate(bad).is_err(), "{bad:?} accepted");
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
