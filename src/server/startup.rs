//! What a server works out before it serves, from its flags and its config file: the names
//! its generated certificate is valid for, its token checks, its access policy and its admins.
//! (`scistream server` reads the flags and prints; the relay's fd budget is
//! [`Limits::within_fds`](crate::relay::Limits::within_fds).)

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::authorize::Access;
use super::metrics::introspection_latency;
use crate::auth::{AuthSettings, Introspector};
use crate::config::{Config, GroupRef, PolicyConfig};
use crate::policy::{introspection_details, Admins, Policy};
use crate::scope::ScopeId;
use crate::secret::Secret;

/// The names a generated certificate must hold for clients to reach the control port: the
/// loopback names, the data listeners' address, the bound address unless it is a wildcard, and
/// this machine's host name.
pub(crate) fn certificate_names(listener_ip: IpAddr, bind: IpAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    names.push(listener_ip.to_string());
    if !bind.is_unspecified() {
        names.push(bind.to_string());
    }
    names.extend(hostname());
    names.sort();
    names.dedup();
    names
}

/// This machine's host name, so that clients may also reach the server by name.
fn hostname() -> Option<String> {
    let name = gethostname::gethostname().into_string().ok()?;
    (!name.is_empty()).then_some(name)
}

/// Token checks for the resource server `client_id` with `secret`, at the auth server of
/// `config`, reusing a positive answer for `cache_ttl`, and the access policy `rules` with its
/// `admins`. The credentials are tried now, so a wrong secret stops the start instead of
/// failing the first user's request.
pub(crate) async fn access(
    config: &Config,
    (client_id, secret): (ScopeId, Secret),
    cache_ttl: Duration,
    rules: PolicyConfig,
    admins: Admins,
) -> Result<Access> {
    let settings = AuthSettings::load(config)?;
    let introspector = Introspector::new(&settings, client_id.clone(), secret)?
        .with_cache_ttl(cache_ttl)
        .with_details(introspection_details(&rules))
        .with_latency(introspection_latency());
    introspector
        .verify_credentials()
        .await
        .context("refusing to start without working token checks")?;
    tracing::info!(%client_id, auth_url = settings.base_url(), "authentication is ON");
    let introspector = Arc::new(introspector);
    let policy = Policy::load(config, rules, admins.clone(), &introspector)?;
    log_policy(&policy, &admins.groups);
    Ok(Access {
        introspector,
        policy: Arc::new(policy),
    })
}

fn log_policy(policy: &Policy, admin_groups: &[GroupRef]) {
    match policy.is_open() {
        true => tracing::info!(
            "no access policy: any identity with a valid token of this server's scope may use \
             this gateway (see policy: in the config file, or --allow-domain and --allow-group)"
        ),
        false => {
            tracing::info!(admits = %policy.describe(), "access policy: only these may use this gateway")
        }
    }
    if !admin_groups.is_empty() {
        let groups: Vec<&str> = admin_groups.iter().map(GroupRef::label).collect();
        tracing::info!(admin_groups = %groups.join(","), "members of these groups see and release every session");
    }
}

/// The identities that see and release every session: the config file's `admin_identities`
/// and `extra` (from the command line), sorted, each once.
pub(crate) fn admin_identities(config: &Config, extra: &[String]) -> Vec<String> {
    let mut admins = config.admin_identities.clone();
    admins.extend_from_slice(extra);
    admins.sort();
    admins.dedup();
    if !admins.is_empty() {
        tracing::info!(admins = %admins.join(","), "admin identities see and release every session");
    }
    admins
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_names_the_loopback_the_listeners_and_a_specific_bind() {
        let names = certificate_names("10.16.42.61".parse().unwrap(), "0.0.0.0".parse().unwrap());
        for name in ["localhost", "127.0.0.1", "::1", "10.16.42.61"] {
            assert!(names.contains(&name.to_string()), "{name} in {names:?}");
        }
        assert!(!names.contains(&"0.0.0.0".to_string()), "{names:?}");
        let names = certificate_names("127.0.0.1".parse().unwrap(), "10.0.0.9".parse().unwrap());
        assert!(names.contains(&"10.0.0.9".to_string()), "{names:?}");
        assert_eq!(names.iter().filter(|n| *n == "127.0.0.1").count(), 1);
    }

    #[test]
    fn the_host_name_is_the_kernels() {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(hostname().as_deref(), Some(kernel.trim()));
    }

    #[test]
    fn admins_come_from_the_file_and_the_command_line_once_each() {
        let config = Config {
            admin_identities: vec!["b".into(), "a".into()],
            ..Config::default()
        };
        let admins = admin_identities(&config, &["c".into(), "a".into()]);
        assert_eq!(admins, ["a", "b", "c"]);
    }
}
