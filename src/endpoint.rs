//! `host:port` strings as they travel in the protocol (listeners, targets).

/// Checks that `value` is `host:port` (IPv6 hosts in brackets) and returns it trimmed.
/// The error says what is wrong with the value, for INVALID_ARGUMENT messages.
pub fn parse(value: &str) -> Result<String, String> {
    let value = value.trim();
    let (host, port) = value
        .rsplit_once(':')
        .ok_or_else(|| format!("{value:?} is not host:port"))?;
    if host.is_empty() {
        return Err(format!("{value:?} has no host"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!(
            "{value:?}: write IPv6 addresses in brackets, as [::1]:5000"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(value.to_string()),
        _ => Err(format!("{value:?} has no valid port (1-65535)")),
    }
}

/// Parses every entry of a list; `field` names the protocol field in the error.
pub fn parse_list(field: &str, values: &[String]) -> Result<Vec<String>, String> {
    if values.is_empty() {
        return Err(format!("{field} is empty: give at least one host:port"));
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
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn list_errors_name_the_field() {
        let err = parse_list("remote_listeners", &[]).unwrap_err();
        assert!(err.starts_with("remote_listeners is empty"), "{err}");
        let err = parse_list("prod_listeners", &["x".into()]).unwrap_err();
        assert!(err.starts_with("prod_listeners: "), "{err}");
    }
}
