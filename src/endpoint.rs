//! `host:port` strings as they travel in the protocol (listeners, targets), and the networks
//! that restrict where sessions relay and who may connect to them.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::limits::{quote, MAX_HOST_LEN};

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

/// Checks that `value` is `host:port` (IPv6 hosts in brackets; a host of at most
/// [`MAX_HOST_LEN`] bytes of printable ASCII) and returns it trimmed.
/// The error says what is wrong with the value, for INVALID_ARGUMENT messages.
pub fn parse(value: &str) -> Result<String, String> {
    let value = value.trim();
    let (host, port) = value
        .rsplit_once(':')
        .ok_or_else(|| format!("{} is not host:port", quote(value)))?;
    if host.is_empty() {
        return Err(format!("{} has no host", quote(value)));
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.len() > MAX_HOST_LEN {
        return Err(format!(
            "{} has a host longer than {MAX_HOST_LEN} bytes",
            quote(value)
        ));
    }
    if !host.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{} is not printable ASCII: write international names in their xn-- form",
            quote(value)
        ));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!(
            "{}: write IPv6 addresses in brackets, as [::1]:5000",
            quote(value)
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(value.to_string()),
        _ => Err(format!("{} has no valid port (1-65535)", quote(value))),
    }
}

/// Parses every entry of a list of at most `max` entries; `field` names the protocol field in
/// the error.
pub fn parse_list(field: &str, values: &[String], max: usize) -> Result<Vec<String>, String> {
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
        .map(|v| parse(v).map_err(|e| format!("{field}: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_hosts_ips_and_bracketed_ipv6() {
        for ok in [
            "127.0.0.1:5100",
            "gw.example.org:80",
            "[::1]:5000",
            " 10.0.0.1:1 ",
        ] {
            assert_eq!(parse(ok).unwrap(), ok.trim());
        }
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "",
            "5000",
            ":5000",
            "host:",
            "host:0",
            "host:70000",
            "::1:5000",
            "h:p",
            "ho st:80",
            "h\nost:80",
            "hôst:80",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn hosts_are_at_most_253_bytes() {
        let at_bound = format!("{}:80", "h".repeat(MAX_HOST_LEN));
        assert!(parse(&at_bound).is_ok());
        let err = parse(&format!("{}:80", "h".repeat(100_000))).unwrap_err();
        assert!(
            err.contains("longer than 253 bytes") && err.len() < 200,
            "{err}"
        );
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
