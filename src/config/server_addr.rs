//! Server addresses as keys of the `servers` map: `host` or `host:port`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A control server's address as the user types it (`gw.example.org`, `10.0.0.1:5000`,
/// `[::1]:5000`). Only the shape is checked; nothing is resolved.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServerAddr(String);

impl ServerAddr {
    pub fn parse(addr: &str) -> Result<Self, String> {
        let (host, port) = split_host_port(addr);
        let bad_host = host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/');
        let bad_port = port.is_some_and(|p| p.parse::<u16>().is_err());
        if bad_host || bad_port {
            return Err(format!(
                "'{addr}' is not a server address: expected HOST or HOST:PORT, e.g. gw.example.org:5000"
            ));
        }
        Ok(Self(addr.to_owned()))
    }

    /// The address without its port, for the map's fallback lookup and for hints.
    pub(crate) fn host_only(&self) -> Self {
        Self(split_host_port(&self.0).0.to_owned())
    }
}

/// Splits off a port; an IPv6 literal needs brackets to carry one (`[::1]:5000`).
fn split_host_port(addr: &str) -> (&str, Option<&str>) {
    if let Some(rest) = addr.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((_, "")) => (addr, None),
            Some((host, tail)) => match tail.strip_prefix(':') {
                Some(port) => (&addr[..host.len() + 2], Some(port)),
                None => ("", None),
            },
            None => ("", None),
        };
    }
    match addr.split_once(':') {
        Some((host, port)) if !port.contains(':') => (host, Some(port)),
        _ => (addr, None),
    }
}

impl std::str::FromStr for ServerAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for ServerAddr {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ServerAddr> for String {
    fn from(addr: ServerAddr) -> Self {
        addr.0
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(addr: &str) -> String {
        ServerAddr::parse(addr).unwrap().host_only().to_string()
    }

    #[test]
    fn host_only_strips_the_port() {
        assert_eq!(host("gw.example.org:5000"), "gw.example.org");
        assert_eq!(host("gw.example.org"), "gw.example.org");
        assert_eq!(host("10.0.0.1:5000"), "10.0.0.1");
        assert_eq!(host("[::1]:5000"), "[::1]");
        assert_eq!(host("[::1]"), "[::1]");
        assert_eq!(host("::1"), "::1");
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        for bad in [
            "",
            ":5000",
            "gw:port",
            "gw:70000",
            "https://gw/",
            "a b",
            "[::1",
        ] {
            assert!(ServerAddr::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
