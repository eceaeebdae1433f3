//! Where sessions may relay: never into this server itself (any session's listener, its
//! control or metrics port), and with `--allow-targets` only into the networks given.
//!
//! A target is checked on the addresses its name resolves to, when `update` sets it and again
//! at every connect, which then connects to the very addresses it checked: a name that
//! re-resolves elsewhere (DNS rebinding) cannot slip past.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::IpNet;

use crate::address::HostPort;

pub struct TargetPolicy {
    /// Empty: anywhere (but the server itself).
    allow: Vec<IpNet>,
    /// The server's own service endpoints; an unspecified IP stands for every local address.
    services: Vec<SocketAddr>,
    /// Every data listener bound now, by any session, with its number of claims: a session
    /// being torn down may still hold the address a new one just bound.
    listeners: Mutex<HashMap<SocketAddr, usize>>,
}

/// Why a target is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    #[error("could not be resolved ({0}): check the name")]
    Unresolvable(io::Error),
    #[error("is this server itself ({0}): a session cannot relay into its own server")]
    Itself(SocketAddr),
    #[error("reaches {0}, outside the networks this server may relay to (--allow-targets)")]
    Outside(IpAddr),
}

impl TargetPolicy {
    /// `allow`: the networks sessions may relay to (empty: any); `services`: where this server
    /// listens besides the data listeners (control, metrics).
    pub fn new(allow: Vec<IpNet>, services: Vec<SocketAddr>) -> Self {
        TargetPolicy {
            allow,
            services: services.into_iter().map(canonical).collect(),
            listeners: Mutex::new(HashMap::new()),
        }
    }

    /// Anywhere but the relays' own listeners: for relays outside a server.
    pub fn anywhere() -> Arc<Self> {
        Arc::new(TargetPolicy::new(Vec::new(), Vec::new()))
    }

    /// The addresses `target` resolves to, if every one of them is allowed.
    pub(crate) async fn resolve(&self, target: &HostPort) -> Result<Vec<SocketAddr>, Refused> {
        let addrs = target.resolve().await.map_err(Refused::Unresolvable)?;
        if addrs.is_empty() {
            let none = io::Error::new(io::ErrorKind::NotFound, "no address");
            return Err(Refused::Unresolvable(none));
        }
        for addr in &addrs {
            self.check(*addr)?;
        }
        Ok(addrs)
    }

    fn check(&self, addr: SocketAddr) -> Result<(), Refused> {
        let addr = canonical(addr);
        if self.is_itself(addr) {
            return Err(Refused::Itself(addr));
        }
        let ip = addr.ip();
        if !self.allow.is_empty() && !self.allow.iter().any(|net| net.contains(&ip)) {
            return Err(Refused::Outside(ip));
        }
        Ok(())
    }

    fn is_itself(&self, addr: SocketAddr) -> bool {
        // Connecting to 0.0.0.0 or :: reaches this host.
        addr.ip().is_unspecified()
            || self.lock().contains_key(&addr)
            || self.services.iter().any(|service| {
                service.port() == addr.port()
                    && (service.ip() == addr.ip()
                        || (service.ip().is_unspecified() && is_local(addr.ip())))
            })
    }

    /// Counts `listeners` as the server's own until the claim is dropped.
    pub(super) fn claim(self: &Arc<Self>, listeners: Vec<SocketAddr>) -> Claim {
        let listeners: Vec<SocketAddr> = listeners.into_iter().map(canonical).collect();
        let mut own = self.lock();
        for listener in &listeners {
            *own.entry(*listener).or_default() += 1;
        }
        drop(own);
        Claim {
            policy: self.clone(),
            listeners,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SocketAddr, usize>> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A session's listeners, counted as the server's own while it lives; the policy its
/// connections are checked against.
pub(super) struct Claim {
    policy: Arc<TargetPolicy>,
    listeners: Vec<SocketAddr>,
}

impl Deref for Claim {
    type Target = TargetPolicy;

    fn deref(&self) -> &TargetPolicy {
        &self.policy
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut own = self.policy.lock();
        for listener in &self.listeners {
            if let Some(claims) = own.get_mut(listener) {
                *claims -= 1;
                if *claims == 0 {
                    own.remove(listener);
                }
            }
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) reach the IPv4 address: compare them as such.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Whether `ip` is one of this host's addresses: only those can be bound.
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || UdpSocket::bind((ip, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_unspecified_service_address_covers_every_local_address() {
        let policy = TargetPolicy::new(Vec::new(), vec![addr("0.0.0.0:5000")]);
        for own in [
            "127.0.0.1:5000",
            "127.9.9.9:5000",
            "[::ffff:127.0.0.1]:5000",
        ] {
            assert!(
                matches!(policy.check(addr(own)), Err(Refused::Itself(_))),
                "{own}"
            );
        }
        assert!(policy.check(addr("127.0.0.1:5001")).is_ok());
        // TEST-NET-1 is nobody's local address.
        assert!(policy.check(addr("192.0.2.1:5000")).is_ok());
    }

    #[test]
    fn claimed_listeners_are_own_until_the_claim_drops() {
        let policy = TargetPolicy::anywhere();
        let listener = addr("127.0.0.7:6000");
        let claim = policy.claim(vec![listener]);
        assert!(matches!(policy.check(listener), Err(Refused::Itself(_))));
        assert!(policy.check(addr("127.0.0.8:6000")).is_ok());
        let reclaimed = policy.claim(vec![listener]);
        drop(claim);
        assert!(
            policy.check(listener).is_err(),
            "still claimed by the second"
        );
        drop(reclaimed);
        assert!(policy.check(listener).is_ok());
    }

    #[test]
    fn only_allowed_networks_pass() {
        let allow = vec![
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.1/32".parse().unwrap(),
        ];
        let policy = TargetPolicy::new(allow, Vec::new());
        assert!(policy.check(addr("10.1.2.3:80")).is_ok());
        assert!(policy.check(addr("[::ffff:10.1.2.3]:80")).is_ok());
        assert!(policy.check(addr("127.0.0.1:80")).is_ok());
        for outside in ["127.0.0.2:80", "192.0.2.1:80", "[::1]:80"] {
            assert!(
                matches!(policy.check(addr(outside)), Err(Refused::Outside(_))),
                "{outside}"
            );
        }
    }

    #[tokio::test]
    async fn resolve_checks_what_it_returns() {
        let policy = TargetPolicy::new(vec!["127.0.0.1/32".parse().unwrap()], Vec::new());
        let target = |s: &str| HostPort::parse(s).unwrap();
        let resolved = policy.resolve(&target("127.0.0.1:80")).await.unwrap();
        assert_eq!(resolved, [addr("127.0.0.1:80")]);
        let refused = policy.resolve(&target("127.0.0.2:80")).await;
        assert!(matches!(refused, Err(Refused::Outside(_))));
        let ipv6 = policy.resolve(&target("[::1]:80")).await;
        assert!(matches!(ipv6, Err(Refused::Outside(_))));
    }
}
