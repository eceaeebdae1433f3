//! Scope ids: the UUID of the resource server (a SciStream control server's Globus client id).
//! The bottom floor under `config` (which maps servers to scopes) and `auth` (which logs in to
//! and checks them).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The default SciStream resource server, as in the Python client.
pub(crate) const DEFAULT_SCOPE: &str = "c42c0dac-0a52-408e-a04f-5d31bfe0aef8";

/// The response metadata key in which a server names the scope it expects, on every
/// UNAUTHENTICATED status: the client's login hint reads it, never the message text (kept
/// word for word as upstream's, for Python clients).
pub const SCOPE_METADATA_KEY: &str = "scistream-scope";

/// The response metadata key a server with authentication off sets to `off` on every reply
/// (success or failure), so a client can warn that the session is open to anyone.
pub const AUTH_METADATA_KEY: &str = "scistream-auth";

/// A scope id, always a canonical (lower-case, hyphenated) UUID, so that map keys written by
/// hand in different spellings still name the same scope.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScopeId(String);

impl ScopeId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The scope string requested at login and required by the server at introspection.
    pub(crate) fn scistream_scope(&self) -> String {
        format!("https://auth.globus.org/scopes/{}/scistream", self.0)
    }
}

impl FromStr for ScopeId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s.trim())
            .map(|id| Self(id.hyphenated().to_string()))
            .map_err(|_| {
                format!("'{s}' is not a scope id: expected a UUID such as {DEFAULT_SCOPE}")
            })
    }
}

impl TryFrom<String> for ScopeId {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ScopeId> for String {
    fn from(scope: ScopeId) -> Self {
        scope.0
    }
}

impl fmt::Display for ScopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_uuid_are_one_scope() {
        let upper: ScopeId = DEFAULT_SCOPE.to_uppercase().parse().unwrap();
        assert_eq!(upper.as_str(), DEFAULT_SCOPE);
    }

    #[test]
    fn rejects_a_non_uuid_and_says_what_is_expected() {
        let err = "scistream".parse::<ScopeId>().unwrap_err();
        assert!(err.contains("'scistream' is not a scope id"), "{err}");
    }

    #[test]
    fn scistream_scope_string() {
        assert_eq!(
            DEFAULT_SCOPE.parse::<ScopeId>().unwrap().scistream_scope(),
            "https://auth.globus.org/scopes/c42c0dac-0a52-408e-a04f-5d31bfe0aef8/scistream"
        );
    }
}
