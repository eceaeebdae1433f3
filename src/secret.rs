//! A string that must never reach a log line or an error message by accident.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A token or client secret. `Debug` and `Display` print a placeholder; the value is only
/// reachable through [`Secret::expose`], so every place that reveals it is greppable.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

const PLACEHOLDER: &str = "<redacted>";

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for the one place that has to send or print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PLACEHOLDER)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PLACEHOLDER)
    }
}

/// Lets clap parse `--client-secret` straight into a `Secret`.
impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), PLACEHOLDER);
        assert_eq!(format!("{secret:?}"), PLACEHOLDER);
        assert_eq!(
            format!("{:?}", Some(&secret)),
            format!("Some({PLACEHOLDER})")
        );
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn serializes_as_the_plain_value_for_the_token_file() {
        let yaml = serde_yaml::to_string(&Secret::new("hunter2")).unwrap();
        assert_eq!(yaml.trim(), "hunter2");
    }
}
