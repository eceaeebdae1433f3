//! The server's access policy as the file writes it (`policy:`, `admin_groups:`): who may use
//! the gateway. Every entry is checked as it is read, so a typo stops the server at start with
//! the line it is on; the rules themselves are applied by the `policy` module.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `policy:` in the server's file. Every kind given must pass; any entry within a kind does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Identities admitted: ids (`sub`) or usernames.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_identities: Vec<IdentityName>,
    /// Identities refused whatever else admits them (the token's or any linked one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_identities: Vec<IdentityName>,
    /// Username domains admitted: `anl.gov`, or `*.anl.gov` for its subdomains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_domains: Vec<DomainPattern>,
    /// Whether an identity linked to the token's may satisfy `allow_identities` and
    /// `allow_domains` (as Globus Connect Server does); by default only the token's own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub linked_identities: bool,
    /// Globus Groups whose members are admitted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_groups: Vec<GroupRef>,
    /// Globus authentication policies the token's login must meet, every one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authentication_policies: Vec<GlobusId>,
    /// Seconds a user's group memberships are reused before being looked up again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership_cache_secs: Option<u64>,
}

impl PolicyConfig {
    pub fn is_empty(&self) -> bool {
        self == &PolicyConfig::default()
    }
}

/// Serde goes through the text form: `TryFrom<String>` by `FromStr`, and back into `String`.
macro_rules! via_string {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = String;

            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }

        impl From<$t> for String {
            fn from(value: $t) -> Self {
                value.0
            }
        }
    };
}

/// A Globus id (an identity, group or policy UUID), canonical: lower case, hyphenated.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GlobusId(String);

impl GlobusId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for GlobusId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        uuid::Uuid::parse_str(s.trim())
            .map(|id| GlobusId(id.hyphenated().to_string()))
            .map_err(|_| "an id is not a UUID (Globus ids look like 6f1c0a3e-...)".into())
    }
}

via_string!(GlobusId);

impl fmt::Display for GlobusId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An identity's id or username, lower case (both compare without case).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdentityName(String);

impl IdentityName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for IdentityName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let printable = s.chars().all(|c| c.is_ascii_graphic());
        if s.is_empty() || s.len() > 253 || !printable {
            return Err(
                "an identity must be its id or username: 1 to 253 printable ASCII \
                        characters without spaces"
                    .into(),
            );
        }
        Ok(IdentityName(s.to_ascii_lowercase()))
    }
}

via_string!(IdentityName);

/// A username domain (`anl.gov`), or its subdomains (`*.anl.gov`), lower case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DomainPattern(String);

impl DomainPattern {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a username's `domain` (the part after its last `@`) is admitted.
    pub fn matches(&self, domain: &str) -> bool {
        let domain = domain.to_ascii_lowercase();
        match self.0.strip_prefix("*.") {
            Some(parent) => domain
                .strip_suffix(parent)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => domain == self.0,
        }
    }

    /// A plain domain, which Globus can be asked to log in with (a wildcard cannot).
    pub fn is_exact(&self) -> bool {
        !self.0.starts_with("*.")
    }
}

impl std::str::FromStr for DomainPattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        let name = s.strip_prefix("*.").unwrap_or(&s);
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(
                "a domain must be a name such as anl.gov, or *.anl.gov for its \
                        subdomains"
                    .into(),
            );
        }
        Ok(DomainPattern(s))
    }
}

via_string!(DomainPattern);

/// A Globus Group: its id, and the name refusals call it by. Written as the id alone or as
/// `{id: ..., name: ...}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRef {
    pub id: GlobusId,
    pub name: Option<String>,
}

impl GroupRef {
    /// How messages and logs name it.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(self.id.as_str())
    }
}

impl std::str::FromStr for GroupRef {
    type Err = String;

    /// `ID` or `ID=NAME`, as the command line gives it.
    fn from_str(s: &str) -> Result<Self, String> {
        let (id, name) = match s.split_once('=') {
            Some((id, name)) => (id, Some(name.trim().to_owned())),
            None => (s, None),
        };
        Ok(GroupRef {
            id: id.parse()?,
            name: name.filter(|n| !n.is_empty()),
        })
    }
}

/// The map form of a group entry.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedGroup {
    id: GlobusId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

impl Serialize for GroupRef {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let named = NamedGroup {
            id: self.id.clone(),
            name: self.name.clone(),
        };
        match &self.name {
            None => self.id.serialize(ser),
            Some(_) => named.serialize(ser),
        }
    }
}

impl<'de> Deserialize<'de> for GroupRef {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(GroupVisitor)
    }
}

struct GroupVisitor;

impl<'de> Visitor<'de> for GroupVisitor {
    type Value = GroupRef;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a group id, or {id: ..., name: ...}")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<GroupRef, E> {
        let id = s.parse().map_err(E::custom)?;
        Ok(GroupRef { id, name: None })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<GroupRef, A::Error> {
        let named = NamedGroup::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(GroupRef {
            id: named.id,
            name: named.name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(s: &str) -> DomainPattern {
        s.parse().unwrap()
    }

    #[test]
    fn a_domain_matches_itself_and_a_wildcard_only_subdomains() {
        assert!(pattern("anl.gov").matches("ANL.gov"));
        assert!(!pattern("anl.gov").matches("alcf.anl.gov"));
        assert!(pattern("*.anl.gov").matches("alcf.anl.gov"));
        assert!(pattern("*.anl.gov").matches("a.b.anl.gov"));
        assert!(!pattern("*.anl.gov").matches("anl.gov"));
        assert!(!pattern("*.anl.gov").matches("evilanl.gov"));
        assert!(pattern("*.edu").matches("uchicago.edu"));
    }

    #[test]
    fn bad_domains_are_refused() {
        for bad in [
            "",
            "*",
            "*anl.gov",
            "anl..gov",
            "a*.anl.gov",
            "anl.gov.",
            "an l.gov",
        ] {
            assert!(bad.parse::<DomainPattern>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn groups_are_an_id_or_an_id_with_a_name() {
        let yaml = "- 6F1C0A3E-0000-4000-8000-000000000001\n\
                    - {id: 6f1c0a3e-0000-4000-8000-000000000002, name: APS users}\n";
        let groups: Vec<GroupRef> = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(groups[0].label(), "6f1c0a3e-0000-4000-8000-000000000001");
        assert_eq!(groups[1].label(), "APS users");
        let again: Vec<GroupRef> =
            serde_yaml::from_str(&serde_yaml::to_string(&groups).unwrap()).unwrap();
        assert_eq!(again, groups);
        let typo = "- {id: 6f1c0a3e-0000-4000-8000-000000000002, nmae: x}\n";
        let err = serde_yaml::from_str::<Vec<GroupRef>>(typo).unwrap_err();
        assert!(err.to_string().contains("unknown field `nmae`"), "{err}");
        let flag: GroupRef = "6f1c0a3e-0000-4000-8000-000000000002=APS users"
            .parse()
            .unwrap();
        assert_eq!(flag, groups[1]);
    }
}
