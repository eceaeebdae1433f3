//! Server addresses as keys of the `servers` map: `host` or `host:port`.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::address::{Host, HostPort};

/// A control server's address as the user types it (`gw.example.org`, `10.0.0.1:5000`,
/// `[::1]:5000`): a [`Host`] and maybe a port. Only the shape is checked; nothing is resolved.
/// Ordered by its text, as the config file lists it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServerAddr {
    host: Host,
    port: Option<u16>,
}

impl ServerAddr {
    pub fn parse(addr: &str) -> Result<Self, String> {
        let parsed = match addr.contains(':') && !addr.ends_with(']') {
            // `host:port`, or a bare IPv6 address (`::1`), which has no port.
            true => HostPort::parse(addr)
                .map(|HostPort { host, port }| (host, Some(port)))
                .or_else(|_| Host::parse(addr).map(|host| (host, None))),
            false => Host::parse(addr).map(|host| (host, None)),
        };
        match parsed {
            Ok((host, port)) if addr.trim() == addr => Ok(ServerAddr { host, port }),
            _ => Err(format!(
                "'{addr}' is not a server address: expected HOST or HOST:PORT, e.g. gw.example.org:5000"
            )),
        }
    }

    /// The address without its port, for the map's fallback lookup and for hints.
    pub(crate) fn host_only(&self) -> Self {
        ServerAddr {
            host: self.host.clone(),
            port: None,
        }
    }
}

impl From<&HostPort> for ServerAddr {
    fn from(addr: &HostPort) -> Self {
        ServerAddr {
            host: addr.host.clone(),
            port: Some(addr.port),
        }
    }
}

impl Ord for ServerAddr {
    fn cmp(&self, other: &Self) -> Ordering {
        self.to_string().cmp(&other.to_string())
    }
}

impl PartialOrd for ServerAddr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
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
        addr.to_string()
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => write!(f, "{}", self.host),
        }
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
        // A bare IPv6 address has no port; it is written in brackets, as before a port.
        assert_eq!(host("::1"), "[::1]");
    }

    #[test]
    fn a_server_address_is_a_host_port_without_its_port() {
        let addr = HostPort::parse("[::1]:5000").unwrap();
        let server = ServerAddr::from(&addr);
        assert_eq!(server, ServerAddr::parse("[::1]:5000").unwrap());
        assert_eq!(server.to_string(), "[::1]:5000");
        assert_eq!(server.host_only(), ServerAddr::parse("::1").unwrap());
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
            " gw",
            "[gw]:5000",
        ] {
            assert!(ServerAddr::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
