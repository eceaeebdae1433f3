//! A control call as its handler sees it: which RPC, from which address, by whom.
//!
//! [`Call::of`] builds it once per call from what the layers in front of the service put in
//! the request's extensions: the connection's address, and the access policy's [`Decision`]
//! the authorize filter made for the token (the identity, and whether an admin). Every check
//! that depends on the caller reads this one value: session ownership, the hop's address rule
//! and the quotas of its [`Account`] (and of its groups), instead of each handler rebuilding
//! the caller by hand.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use tonic::codegen::http::Extensions;

use super::peer::Peer;
use super::rpc::Rpc;
use crate::limits::network_of;
use crate::policy::Decision;

/// One call: built by [`Call::of`], handed to the handler named after its RPC.
pub(crate) struct Call {
    pub(crate) rpc: Rpc,
    pub(crate) peer: Peer,
    pub(crate) caller: Caller,
}

impl Call {
    /// The call to `rpc` whose request carries `extensions`: who is calling and whether an
    /// admin, as the access policy decided.
    pub(crate) fn of(rpc: Rpc, extensions: &Extensions) -> Call {
        let peer = Peer::of(extensions);
        let decision = extensions.get::<Decision>();
        let identity = decision.map(|d| &d.identity);
        let caller = Caller {
            admin: decision.is_some_and(|d| d.admin),
            sub: identity.map(|id| id.sub.clone()),
            username: identity.and_then(|id| id.username.clone()),
            address: peer.ip(),
            groups: decision.map(|d| d.groups.clone()).unwrap_or_default(),
        };
        Call { rpc, peer, caller }
    }
}

/// Who makes a call, as far as sessions go.
#[derive(Clone, Debug, Default)]
pub(crate) struct Caller {
    /// The `sub` of the call's token; None with authentication off, where sessions have no
    /// owner either, so every caller owns every session.
    pub(crate) sub: Option<String>,
    /// The identity's readable name, for logs.
    pub(crate) username: Option<String>,
    /// An admin (`--admin-identity`, or a member of an `--admin-group`): sees and releases
    /// every session.
    pub(crate) admin: bool,
    /// The client's IP address; None when the transport recorded none.
    pub(crate) address: Option<IpAddr>,
    /// The ids of the Globus Groups the identity is a member of, when the server looks them
    /// up (a rule or a quota names groups); empty otherwise.
    pub(crate) groups: Arc<HashSet<String>>,
}

impl Caller {
    /// Whether the caller is the identity that opened a session owned by `owner` (with
    /// authentication off, sessions and callers have no identity: everyone is).
    pub(crate) fn is_owner(&self, owner: &Option<String>) -> bool {
        self.sub == *owner
    }

    /// Whom the caller's share of a server-wide table is counted against.
    pub(crate) fn account(&self) -> Account {
        match (&self.sub, self.address) {
            (Some(sub), _) => Account::Identity(sub.clone()),
            (None, Some(ip)) => Account::Network(network_of(ip)),
            (None, None) => Account::Unknown,
        }
    }

    /// How messages name the caller's account: its username (or id), or its network.
    pub(crate) fn account_name(&self) -> String {
        match (&self.username, self.account()) {
            (Some(name), _) => name.clone(),
            (None, Account::Identity(sub)) => sub,
            (None, Account::Network(ip)) if ip.is_ipv6() => format!("network {ip}/64"),
            (None, Account::Network(ip)) => format!("address {ip}"),
            (None, Account::Unknown) => "a client of unknown address".into(),
        }
    }
}

/// Whom a share of a server-wide table is counted against: the identity with authentication
/// on; with it off, the client's network.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Account {
    Identity(String),
    /// An IPv4 address, or the /64 of an IPv6 one (one host or link usually holds a whole /64,
    /// so counting its addresses apart would give one client 2^64 shares).
    Network(IpAddr),
    /// Neither a token nor an address: every such call shares one account.
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(sub: Option<&str>, address: &str) -> Caller {
        Caller {
            sub: sub.map(str::to_owned),
            address: Some(address.parse().unwrap()),
            ..Caller::default()
        }
    }

    #[test]
    fn an_identity_is_one_account_from_any_address() {
        let here = caller(Some("alice"), "192.0.2.1").account();
        assert_eq!(here, caller(Some("alice"), "198.51.100.7").account());
        assert_ne!(here, caller(Some("bob"), "192.0.2.1").account());
    }

    #[test]
    fn without_a_token_an_ipv4_address_or_an_ipv6_64_is_one_account() {
        let v4 = caller(None, "192.0.2.1").account();
        assert_ne!(v4, caller(None, "192.0.2.2").account());
        let v6 = caller(None, "2001:db8:1:2::1").account();
        assert_eq!(v6, caller(None, "2001:db8:1:2:ffff::9").account());
        assert_ne!(v6, caller(None, "2001:db8:1:3::1").account());
        assert_eq!(Caller::default().account(), Account::Unknown);
    }
}
