//! Globus's auth requirements: what a new login must satisfy for a refused call to pass (an
//! identity from a domain, an authentication policy such as high assurance, MFA). A gateway
//! sends them with a refusal, in the shape Globus services use (a "GARE"); the client turns them
//! into the `scistream login` command that asks for them, and `login` into the authorize URL.

use serde::{Deserialize, Serialize};

/// The gRPC metadata key of a refusal's requirements (JSON, ASCII only).
pub const AUTH_REQUIREMENTS_METADATA_KEY: &str = "globus-auth-requirements";

/// The most entries of one kind a client takes from a server.
const MAX_ENTRIES: usize = 16;
/// The longest entry (a domain, or an id) a client takes from a server.
const MAX_ENTRY_LEN: usize = 253;

/// Globus's authorization parameters that scistream asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequirements {
    /// Shown by Globus on the login page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session_required_identities: Vec<String>,
    /// Log in with an identity from one of these domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session_required_single_domain: Vec<String>,
    /// Globus authentication policy ids the login must meet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session_required_policies: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub session_required_mfa: bool,
}

/// The error document Globus services send when a login does not meet their requirements.
#[derive(Serialize, Deserialize)]
struct Envelope {
    code: String,
    authorization_parameters: AuthRequirements,
}

const REQUIRED_CODE: &str = "AuthorizationRequired";

impl AuthRequirements {
    /// Nothing asked for: a new login would not help.
    pub fn is_empty(&self) -> bool {
        self.session_required_identities.is_empty()
            && self.session_required_single_domain.is_empty()
            && self.session_required_policies.is_empty()
            && !self.session_required_mfa
    }

    /// The metadata value: the error document as JSON, non-ASCII characters escaped.
    pub fn to_metadata(&self) -> String {
        let envelope = Envelope {
            code: REQUIRED_CODE.into(),
            authorization_parameters: self.clone(),
        };
        let json = serde_json::to_string(&envelope).expect("requirements always serialize");
        ascii_json(&json)
    }

    /// The requirements a server sent, if they are well-formed and every entry is safe to
    /// print in a shell command (a hostile server must not inject one).
    pub fn from_metadata(value: &str) -> Option<Self> {
        let envelope: Envelope = serde_json::from_str(value).ok()?;
        let found = envelope.authorization_parameters;
        let lists = [
            &found.session_required_identities,
            &found.session_required_single_domain,
            &found.session_required_policies,
        ];
        let safe = lists.iter().all(|list| {
            list.len() <= MAX_ENTRIES && list.iter().all(|entry| check_entry(entry).is_ok())
        });
        (safe && !found.is_empty()).then_some(found)
    }

    /// The `scistream login` flags that ask for these requirements.
    pub fn login_flags(&self) -> String {
        let mut flags = String::new();
        let kinds = [
            ("--required-domain", &self.session_required_single_domain),
            ("--required-identity", &self.session_required_identities),
            ("--required-policy", &self.session_required_policies),
        ];
        for (flag, entries) in kinds {
            for entry in entries {
                flags.push_str(&format!(" {flag} {entry}"));
            }
        }
        if self.session_required_mfa {
            flags.push_str(" --required-mfa");
        }
        flags
    }

    /// The authorize URL's query parameters that ask for these requirements, lists joined by
    /// commas as Globus takes them.
    pub(crate) fn authorize_params(&self) -> Vec<(&'static str, String)> {
        let lists = [
            (
                "session_required_identities",
                &self.session_required_identities,
            ),
            (
                "session_required_single_domain",
                &self.session_required_single_domain,
            ),
            ("session_required_policies", &self.session_required_policies),
        ];
        let mut params: Vec<(&'static str, String)> = lists
            .into_iter()
            .filter(|(_, list)| !list.is_empty())
            .map(|(name, list)| (name, list.join(",")))
            .collect();
        if self.session_required_mfa {
            params.push(("session_required_mfa", "True".into()));
        }
        if let Some(message) = &self.session_message {
            params.push(("session_message", message.clone()));
        }
        params
    }
}

/// A domain (`anl.gov`) or an id (a UUID): letters, digits, `.`, `-`, `_` and `:` only, so it
/// can go into a printed command and a URL as it is.
pub fn check_entry(entry: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
    match entry.len() {
        0 => Err("an entry is empty".into()),
        n if n > MAX_ENTRY_LEN => Err(format!("an entry is longer than {MAX_ENTRY_LEN} bytes")),
        _ if !entry.chars().all(allowed) => Err(format!(
            "{entry:?} holds a character other than letters, digits, '.', '-', '_' and ':'"
        )),
        _ => Ok(()),
    }
}

/// `json` with every non-ASCII character as a `\u` escape (UTF-16, as JSON has it), so that
/// it fits in a gRPC metadata value.
fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn high_assurance() -> AuthRequirements {
        AuthRequirements {
            session_message: Some("Anmeldung für gw1 nötig".into()),
            session_required_single_domain: vec!["anl.gov".into()],
            session_required_policies: vec!["6f1c0a3e-0000-4000-8000-000000000001".into()],
            ..AuthRequirements::default()
        }
    }

    #[test]
    fn survive_the_metadata_as_ascii() {
        let sent = high_assurance();
        let value = sent.to_metadata();
        assert!(value.is_ascii(), "{value}");
        assert!(
            value.contains("\"code\":\"AuthorizationRequired\""),
            "{value}"
        );
        assert_eq!(AuthRequirements::from_metadata(&value), Some(sent));
    }

    #[test]
    fn become_login_flags_and_authorize_params() {
        let wanted = AuthRequirements {
            session_required_mfa: true,
            ..high_assurance()
        };
        assert_eq!(
            wanted.login_flags(),
            " --required-domain anl.gov --required-policy \
             6f1c0a3e-0000-4000-8000-000000000001 --required-mfa"
        );
        let params = wanted.authorize_params();
        assert!(params.contains(&("session_required_single_domain", "anl.gov".into())));
        assert!(params.contains(&("session_required_mfa", "True".into())));
    }

    #[test]
    fn a_hostile_or_empty_document_is_ignored() {
        let mut hostile = high_assurance();
        hostile.session_required_single_domain = vec!["anl.gov; rm -rf ~".into()];
        assert_eq!(
            AuthRequirements::from_metadata(&hostile.to_metadata()),
            None
        );
        let empty = AuthRequirements::default().to_metadata();
        assert_eq!(AuthRequirements::from_metadata(&empty), None);
        assert_eq!(AuthRequirements::from_metadata("not json"), None);
    }
}
