//! Parsers of flag values that more than one command takes.

use std::time::Duration;

use crate::limits::check_uid;

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
    fn uids_are_checked_as_the_server_checks_them() {
        assert_eq!(parse_uid("4f1c-aa").as_deref(), Ok("4f1c-aa"));
        for bad in ["", "a b", "new\nline", "\u{1b}[31m", &"x".repeat(129)] {
            assert!(parse_uid(bad).is_err(), "{bad:?} accepted");
        }
    }
}
