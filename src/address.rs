//! Addresses as the protocol, the command lines and the config file write them: a host alone
//! ([`Host`]: an IP address or a DNS name), `host:port` ([`HostPort`]: listeners, targets,
//! control servers), and networks ([`parse_network`]).
//!
//! Each is parsed once, where it comes in (a flag, a config key, a protocol field), and carried
//! typed from there; it is shown in the form the protocol writes it (`10.0.0.1:5000`,
//! `gw.example.org:5000`, `[::1]:5000`), so what goes out on the wire and to the terminal is
//! what came in.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::limits::MAX_HOST_LEN;
use crate::quote::quote;

/// A host: an IP address, or a DNS name of at most 253 bytes (`MAX_HOST_LEN`) of letters, digits,
/// `-`, `.` and `_` (international names in their `xn--` form). Nothing is resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

impl Host {
    /// A host alone: an IP address (an IPv6 one bare or in brackets) or a DNS name. The error
    /// says what is wrong with it.
    pub fn parse(value: &str) -> Result<Host, String> {
        let value = value.trim();
        if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            return bracketed(inner).ok_or_else(|| not_ipv6(value));
        }
        match value.parse::<IpAddr>() {
            Ok(ip) => Ok(Host::Ip(ip)),
            Err(_) => name(value).map_err(|why| format!("{}{why}", quote(value))),
        }
    }

    /// Whether it names this machine: a loopback address, or `localhost`.
    pub fn is_loopback(&self) -> bool {
        match self {
            Host::Ip(ip) => ip.to_canonical().is_loopback(),
            Host::Name(name) => name.eq_ignore_ascii_case("localhost"),
        }
    }
}

/// The IPv6 address inside brackets.
fn bracketed(inner: &str) -> Option<Host> {
    inner.parse::<Ipv6Addr>().ok().map(|ip| Host::Ip(ip.into()))
}

fn not_ipv6(value: &str) -> String {
    format!(
        "{} holds no IPv6 address in its brackets, as [::1]:5000 does",
        quote(value)
    )
}

/// A DNS name, or why `value` is none: what follows the quoted value in an error.
fn name(value: &str) -> Result<Host, &'static str> {
    if value.is_empty() {
        return Err(" has no host");
    }
    if value.len() > MAX_HOST_LEN {
        return Err(" has a host longer than 253 bytes");
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(" is not printable ASCII: write international names in their xn-- form");
    }
    if value.contains(':') {
        return Err(": write IPv6 addresses in brackets, as [::1]:5000");
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._".contains(&b);
    if !value.bytes().all(allowed) {
        return Err(
            " has a host that is neither an IP address nor a DNS name (letters, digits, - . _)",
        );
    }
    Ok(Host::Name(value.to_owned()))
}

impl fmt::Display for Host {
    /// An IPv6 address in brackets, as it is written before a port: a host is shown alone only
    /// where a port may follow it (config keys, hints).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// `host:port`: where a listener listens, a target is reached, a control server answers.
/// The port is 1-65535; an IPv6 host is written in brackets (`[::1]:5000`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: Host,
    pub port: u16,
}

impl HostPort {
    pub fn new(host: Host, port: u16) -> HostPort {
        HostPort { host, port }
    }

    /// Parses `host:port` (surrounding spaces trimmed). The error quotes the value and says
    /// what is wrong with it, for INVALID_ARGUMENT messages and command-line errors.
    pub fn parse(value: &str) -> Result<HostPort, String> {
        let value = value.trim();
        let (host, port) = value
            .rsplit_once(':')
            .ok_or_else(|| format!("{} is not host:port", quote(value)))?;
        let host = match host.strip_prefix('[') {
            Some(rest) => rest
                .strip_suffix(']')
                .and_then(bracketed)
                .ok_or_else(|| not_ipv6(value))?,
            None => name_or_ipv4(host).map_err(|why| format!("{}{why}", quote(value)))?,
        };
        let port = match port.bytes().all(|b| b.is_ascii_digit()) {
            true => port.parse::<u16>().ok().filter(|&p| p != 0),
            false => None,
        };
        let port = port.ok_or_else(|| format!("{} has no valid port (1-65535)", quote(value)))?;
        Ok(HostPort { host, port })
    }

    /// The socket addresses it stands for: itself for an IP address, else what the name
    /// resolves to (possibly nothing).
    pub async fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        match &self.host {
            Host::Ip(ip) => Ok(vec![SocketAddr::new(*ip, self.port)]),
            Host::Name(name) => Ok(tokio::net::lookup_host((name.as_str(), self.port))
                .await?
                .collect()),
        }
    }

    /// A TCP connection to it: to the first of its addresses that accepts one.
    pub async fn connect(&self) -> io::Result<tokio::net::TcpStream> {
        tokio::net::TcpStream::connect(&self.resolve().await?[..]).await
    }
}

/// The host before a port: an IPv4 address or a DNS name (an IPv6 address needs brackets).
fn name_or_ipv4(host: &str) -> Result<Host, &'static str> {
    match host.parse::<IpAddr>() {
        Ok(ip @ IpAddr::V4(_)) => Ok(Host::Ip(ip)),
        _ => name(host),
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl From<SocketAddr> for HostPort {
    fn from(addr: SocketAddr) -> HostPort {
        HostPort::new(Host::Ip(addr.ip()), addr.port())
    }
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HostPort::parse(s)
    }
}

impl Serialize for HostPort {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HostPort {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        HostPort::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Every entry of a list of at most `max` entries, parsed; `field` names the protocol field in
/// the error.
pub fn parse_list(field: &str, values: &[String], max: usize) -> Result<Vec<HostPort>, String> {
    if values.is_empty() {
        return Err(format!("{field} is empty: give at least one host:port"));
    }
    if values.len() > max {
        return Err(format!(
            "{field} has {} entries: at most {max} (server --max-conn)",
            values.len()
        ));
    }
    values
        .iter()
        .map(|v| HostPort::parse(v).map_err(|e| format!("{field}: {e}")))
        .collect()
}

/// The addresses of a list, as the protocol and the terminal write them.
pub fn to_strings(addresses: &[HostPort]) -> Vec<String> {
    addresses.iter().map(ToString::to_string).collect()
}

/// `addresses` as one comma-separated line.
pub fn joined(addresses: &[HostPort]) -> String {
    to_strings(addresses).join(",")
}

/// A network in CIDR notation (`10.16.0.0/16`), or one address.
pub fn parse_network(value: &str) -> Result<IpNet, String> {
    let value = value.trim();
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            format!(
                "{} is not a network (10.16.0.0/16) or an address",
                quote(value)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(value: &str) -> String {
        HostPort::parse(value).unwrap().to_string()
    }

    #[test]
    fn accepts_hosts_ips_and_bracketed_ipv6_and_shows_them_as_written() {
        for ok in [
            "127.0.0.1:5100",
            "gw.example.org:80",
            "GW.Example.org:80",
            "[::1]:5000",
            "[2001:db8::7]:65535",
            "[::ffff:127.0.0.1]:1",
            " 10.0.0.1:1 ",
        ] {
            assert_eq!(shown(ok), ok.trim());
        }
    }

    #[test]
    fn ipv6_literals_are_typed_and_round_trip() {
        let parsed = HostPort::parse("[::1]:5000").unwrap();
        assert_eq!(parsed.host, Host::Ip(Ipv6Addr::LOCALHOST.into()));
        assert_eq!(parsed.port, 5000);
        assert_eq!(HostPort::parse(&parsed.to_string()), Ok(parsed.clone()));
        let socket: SocketAddr = "[::1]:5000".parse().unwrap();
        assert_eq!(HostPort::from(socket), parsed);
        assert_eq!(HostPort::from(socket).to_string(), socket.to_string());
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "",
            "5000",
            ":5000",
            "host:",
            "host:0",
            "host:+80",
            "host:70000",
            "::1:5000",
            "[::1]5000",
            "[gw.example.org]:80",
            "[1:2]:80",
            "h:p",
            "ho st:80",
            "h\nost:80",
            "hôst:80",
            "a/b:80",
        ] {
            assert!(HostPort::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let error = |value: &str| HostPort::parse(value).unwrap_err();
        assert_eq!(error("5000"), "\"5000\" is not host:port");
        assert!(error("::1:5000").ends_with(": write IPv6 addresses in brackets, as [::1]:5000"));
        assert!(error("[1:2]:80").contains("no IPv6 address"));
        assert!(error("gw:0").contains("no valid port (1-65535)"));
        assert!(error("hôst:80").contains("xn--"));
    }

    #[test]
    fn hosts_are_at_most_253_bytes() {
        let at_bound = format!("{}:80", "h".repeat(MAX_HOST_LEN));
        assert!(HostPort::parse(&at_bound).is_ok());
        let err = HostPort::parse(&format!("{}:80", "h".repeat(100_000))).unwrap_err();
        assert!(
            err.contains("longer than 253 bytes") && err.len() < 200,
            "{err}"
        );
    }

    #[test]
    fn a_host_alone_takes_ipv6_bare_or_bracketed() {
        let loopback = Host::Ip(Ipv6Addr::LOCALHOST.into());
        assert_eq!(Host::parse("::1"), Ok(loopback.clone()));
        assert_eq!(Host::parse("[::1]"), Ok(loopback.clone()));
        assert_eq!(loopback.to_string(), "[::1]");
        assert_eq!(Host::parse("10.0.0.5").unwrap().to_string(), "10.0.0.5");
        assert!(Host::parse("[gw]").is_err());
        assert!(Host::parse("a b").is_err());
        let port = HostPort::new(loopback, 5074);
        assert_eq!(port.to_string(), "[::1]:5074");
    }

    #[test]
    fn loopback_means_this_host_in_every_spelling() {
        for here in [
            "127.0.0.1:5000",
            "127.9.8.7:5000",
            "localhost:5000",
            "LOCALHOST:1",
            "[::1]:5000",
            "[::ffff:127.0.0.1]:5000",
        ] {
            assert!(HostPort::parse(here).unwrap().host.is_loopback(), "{here}");
        }
        for away in [
            "10.0.0.1:5000",
            "gw.example.org:5000",
            "localhost.example.org:5000",
            "[2001:db8::1]:5000",
            "0.0.0.0:5000",
        ] {
            assert!(!HostPort::parse(away).unwrap().host.is_loopback(), "{away}");
        }
    }

    #[tokio::test]
    async fn addresses_resolve_without_a_lookup_and_names_through_one() {
        let ip = HostPort::parse("[::1]:5000").unwrap();
        assert_eq!(ip.resolve().await.unwrap(), ["[::1]:5000".parse().unwrap()]);
        let name = HostPort::parse("localhost:5000").unwrap();
        let resolved = name.resolve().await.unwrap();
        assert!(resolved
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 5000));
    }

    #[test]
    fn serde_writes_and_reads_the_text_form() {
        let parsed = HostPort::parse("[::1]:5000").unwrap();
        let json = serde_json::to_string(&parsed).unwrap();
        assert_eq!(json, "\"[::1]:5000\"");
        assert_eq!(serde_json::from_str::<HostPort>(&json).unwrap(), parsed);
        assert!(serde_json::from_str::<HostPort>("\"::1:5000\"").is_err());
    }

    #[test]
    fn list_errors_name_the_field() {
        let err = parse_list("remote_listeners", &[], 4).unwrap_err();
        assert!(err.starts_with("remote_listeners is empty"), "{err}");
        let err = parse_list("prod_listeners", &["x".into()], 4).unwrap_err();
        assert!(err.starts_with("prod_listeners: "), "{err}");
        let err = parse_list("prod_listeners", &vec!["h:1".into(); 5], 4).unwrap_err();
        assert_eq!(
            err,
            "prod_listeners has 5 entries: at most 4 (server --max-conn)"
        );
    }
}
