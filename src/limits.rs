//! Bounds on what a client may send.
//!
//! The server is on the WAN edge: every client-given value is checked against these bounds
//! before it is stored, logged or echoed, and a refused value is only ever shown through
//! [`quote`], so a megabyte uid cannot become a megabyte of log or a forged log line.

use std::net::{IpAddr, Ipv6Addr};

use crate::quote::quote;

/// The longest uid a session may have.
pub const MAX_UID_LEN: usize = 128;

/// The longest host name DNS allows, in bytes.
pub(crate) const MAX_HOST_LEN: usize = 253;

/// The largest call a client may send: a hello or update of `--max-conn` long host names
/// fits many times over.
pub(crate) const MAX_REQUEST_BYTES: usize = 1 << 20;

/// The largest reply: one session's lists (each at most one request) plus its listeners.
pub(crate) const MAX_REPLY_BYTES: usize = 8 << 20;

/// How much of [`MAX_REPLY_BYTES`] one page of `list` fills before it says "more".
pub(crate) const LIST_PAGE_BYTES: usize = 1 << 20;

/// Checks that `uid` is 1 to [`MAX_UID_LEN`] printable ASCII characters without spaces: safe
/// to store, log and echo as it is.
pub fn check_uid(uid: &str) -> Result<(), String> {
    if uid.is_empty() {
        return Err("uid is empty: give the session's uid".into());
    }
    if uid.len() > MAX_UID_LEN {
        return Err(format!(
            "uid {} is too long: at most {MAX_UID_LEN} characters",
            quote(uid)
        ));
    }
    if !uid.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "uid {} is not printable ASCII: use letters, digits and punctuation, no spaces",
            quote(uid)
        ));
    }
    Ok(())
}

/// The network a client address counts as for a share of a server-wide pool: an IPv4
/// address (also when it reaches a dual-stack socket as `::ffff:a.b.c.d`), or the /64 of an
/// IPv6 one, since one host or link usually holds a whole /64 and counting its addresses apart
/// would give one client 2^64 shares.
pub(crate) fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.into(),
            None => Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX)).into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_host_is_its_64_and_a_mapped_ipv4_address_is_that_address() {
        let network = |ip: &str| network_of(ip.parse().unwrap());
        assert_eq!(network("2001:db8:1:2::1"), network("2001:db8:1:2:ffff::9"));
        assert_ne!(network("2001:db8:1:2::1"), network("2001:db8:1:3::1"));
        assert_eq!(network("::ffff:192.0.2.7"), network("192.0.2.7"));
        assert_ne!(network("192.0.2.7"), network("192.0.2.8"));
    }

    #[test]
    fn uids_at_the_bound_pass_and_past_it_fail() {
        assert!(check_uid(&"u".repeat(MAX_UID_LEN)).is_ok());
        assert!(check_uid("3f2a-..._~!").is_ok());
        for bad in [
            String::new(),
            "u".repeat(MAX_UID_LEN + 1),
            "a b".into(),
            "a\nb".into(),
            "é".into(),
            "\u{7f}".into(),
        ] {
            assert!(check_uid(&bad).is_err(), "{bad:?} accepted");
        }
    }
}
