//! The one rule for the auth server's URL, wherever it comes from (the file, the environment).

use std::net::IpAddr;

use url::{Host, Url};

/// Tokens and client secrets cross this connection: https anywhere, plain http only to a
/// loopback test server.
pub(crate) fn check_auth_url(url: &str) -> Result<(), String> {
    let must_use_https = || {
        format!(
            "the auth URL '{url}' must use https:// (plain http:// is accepted only on \
             loopback, for tests)"
        )
    };
    let parsed = match Url::parse(url) {
        Ok(parsed) => parsed,
        // A host without a scheme (`auth.globus.org`) lacks only the https://.
        Err(url::ParseError::RelativeUrlWithoutBase) => return Err(must_use_https()),
        Err(err) => return Err(format!("the auth URL '{url}' is not a URL ({err})")),
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(parsed.host()) => Ok(()),
        _ => Err(must_use_https()),
    }
}

/// A base URL by the one precedence rule, environment (`env`, named `env_name`) over the file
/// (`file`, its key `key`) over `default`, without a trailing slash, checked by
/// [`check_auth_url`]; an error says where to fix it.
pub(crate) fn pick_base_url(
    (env, env_name): (Option<String>, &str),
    (file, key): (Option<&String>, &str),
    default: &str,
) -> anyhow::Result<String> {
    let url = env
        .filter(|url| !url.trim().is_empty())
        .or_else(|| file.cloned())
        .unwrap_or_else(|| default.to_owned());
    let url = url.trim().trim_end_matches('/').to_owned();
    check_auth_url(&url)
        .map_err(|err| anyhow::anyhow!("{err}; fix {key} in the config file or {env_name}"))?;
    Ok(url)
}

fn is_loopback(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Domain(name)) => name == "localhost",
        Some(Host::Ipv4(ip)) => IpAddr::from(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::from(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_plain_http_only_on_loopback() {
        for good in [
            "https://auth.globus.org",
            "https://auth.example.org:8443/",
            "http://127.0.0.1:8080",
            "http://127.0.0.2",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            assert_eq!(check_auth_url(good), Ok(()), "{good}");
        }
        for bad in [
            "http://auth.example.org",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "auth.globus.org",
        ] {
            let err = check_auth_url(bad).unwrap_err();
            assert!(err.contains("must use https://"), "{bad}: {err}");
        }
        let err = check_auth_url("https://exa mple.org").unwrap_err();
        assert!(err.contains("is not a URL"), "{err}");
    }
}
