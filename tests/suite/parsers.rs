//! Property tests over the parsers of outside text: `host:port` (protocol fields and command
//! lines) and the YAML config file. Whatever the input, no panic and a precise error.

use proptest::prelude::*;
use scistream::address::{self, HostPort};
use scistream::config::{Config, ServerAddr, TokenSet};
use scistream::secret::Secret;

const SCOPE: &str = "c42c0dac-0a52-408e-a04f-5d31bfe0aef8";

/// Malformed files, each with `{secret}` where a token (or something pasted in its place) goes.
const MALFORMED: [&str; 9] = [
    "tokens:\n  {scope}: {secret}\n",
    "tokens:\n  {scope}:\n    access_token: x\n    {secret}: y\n    expires_at: 2026-12-01T10:00:00Z\n    scope: x\n",
    "tokens:\n  {scope}:\n    access_token: [{secret}\n",
    "tokens:\n  {scope}:\n    access_token: \"{secret}\n",
    "tokens:\n  {scope}:\n    access_token: {secret}\n    expires_at: {secret}\n    scope: x\n",
    "tokens:\n  {secret}:\n    access_token: {secret}\n    expires_at: 2026-12-01T10:00:00Z\n    scope: x\n",
    "tokens:\n  {scope}:\n    access_token: {secret}\n    refresh_token: {secret}\n",
    "auth_url: {secret}\n",
    "servers:\n  {secret}/x: {scope}\n",
];

proptest! {
    #[test]
    fn host_port_parsing_never_panics_and_accepts_only_host_colon_port(value in "\\PC{0,80}") {
        match HostPort::parse(&value) {
            Ok(parsed) => {
                let shown = parsed.to_string();
                prop_assert_eq!(HostPort::parse(&shown), Ok(parsed));
                let (host, port) = shown.rsplit_once(':').unwrap();
                prop_assert!(!host.is_empty());
                prop_assert!(port.parse::<u16>().is_ok_and(|p| p != 0));
                prop_assert!(!host.contains(':') || (host.starts_with('[') && host.ends_with(']')));
            }
            Err(err) => prop_assert!(!err.is_empty() && err.len() < 400, "{}", err),
        }
    }

    #[test]
    fn every_host_with_a_port_in_range_is_accepted(
        host in prop_oneof![
            "[a-z0-9-]{1,20}(\\.[a-z0-9-]{1,20}){0,3}",
            any::<std::net::Ipv6Addr>().prop_map(|ip| format!("[{ip}]")),
        ],
        port in 1u16..,
    ) {
        let value = format!("{host}:{port}");
        prop_assert_eq!(HostPort::parse(&value).map(|p| p.to_string()), Ok(value));
    }

    #[test]
    fn a_value_without_a_port_is_refused_as_such(host in "[a-z0-9.]{1,30}", port in "|0|[1-9][0-9]{5,8}|[a-z]{1,5}") {
        let no_colon = HostPort::parse(&host).unwrap_err();
        prop_assert!(no_colon.contains("host:port"), "{}", no_colon);
        let bad_port = HostPort::parse(&format!("{host}:{port}")).unwrap_err();
        prop_assert!(bad_port.contains("port"), "{}", bad_port);
    }

    #[test]
    fn list_errors_name_their_field(values in prop::collection::vec("\\PC{0,30}", 0..8)) {
        match address::parse_list("remote_listeners", &values, 5) {
            Ok(parsed) => prop_assert!(parsed.len() == values.len() && parsed.len() <= 5),
            Err(err) => prop_assert!(err.starts_with("remote_listeners"), "{}", err),
        }
    }

    #[test]
    fn config_parsing_never_panics(text in "\\PC{0,200}|([a-z_]{1,12}:( [\\PC]{0,20})?\n {0,4}){0,8}") {
        if let Err(err) = Config::from_str(&text) {
            prop_assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn a_malformed_file_is_located_and_never_repeats_a_secret(
        template in prop::sample::select(&MALFORMED[..]),
        secret in "Ag[A-Za-z0-9]{24,40}",
    ) {
        let text = template.replace("{scope}", SCOPE).replace("{secret}", &secret);
        let err = Config::from_str(&text).unwrap_err();
        let message = err.to_string();
        prop_assert!(!message.contains(&secret), "{}", message);
        prop_assert!(err.location().is_some(), "{}", message);
    }

    #[test]
    fn any_config_round_trips_through_its_file(
        servers in prop::collection::btree_map("[a-z]{1,10}(\\.[a-z]{1,10})?(:[1-9][0-9]{0,3})?", any::<u128>(), 0..4),
        tokens in prop::collection::btree_map(any::<u128>(), ("[A-Za-z0-9._-]{1,60}", prop::option::of("[A-Za-z0-9._-]{1,60}"), 0i64..4_000_000_000), 0..3),
    ) {
        let scope = |n: u128| uuid::Uuid::from_u128(n).to_string().parse().unwrap();
        let config = Config {
            servers: servers
                .into_iter()
                .map(|(addr, n)| (ServerAddr::parse(&addr).unwrap(), scope(n)))
                .collect(),
            tokens: tokens
                .into_iter()
                .map(|(n, (access, refresh, expires))| {
                    let tokens = TokenSet {
                        access_token: Secret::new(&access),
                        refresh_token: refresh.as_deref().map(Secret::new),
                        expires_at: chrono::DateTime::from_timestamp(expires, 0).unwrap(),
                        scope: format!("https://auth.globus.org/scopes/{}/scistream", scope(n)),
                    };
                    (scope(n), tokens)
                })
                .collect(),
            ..Config::default()
        };
        prop_assert_eq!(Config::from_str(&config.to_yaml()).unwrap(), config);
    }
}
