//! Where a pool keeps what in etcd. Every key of pool `P` is under `/scistream/P/`:
//!
//! | key | value | lease |
//! |---|---|---|
//! | `nodes/<node>` | [`NodeInfo`](super::NodeInfo): its address, port range, control port | the node's |
//! | `drain/<node>` | empty: no new session is placed on the node | none: outlives restarts |
//! | `sessions/<uid>` | [`PoolRecord`](super::PoolRecord): the session and where it is placed | none |
//! | `ports/<node>/<port>` | the uid holding the port | the node's |
//! | `shares/<uid>/<node>` | [`ShareRecord`](super::ShareRecord): the node's part of the session, bound | the node's |
//! | `accounts/<account>` | [`Held`](super::Held): what an identity holds, for quotas | none |
//! | `bandwidth/<node>` | the kb/s of the node's `--bandwidth` its sessions hold (`--rate-policy reserve`) | none |
//!
//! Keys under a node's lease vanish with it: a node that stops renewing frees its ports and its
//! shares show as lost, while the sessions stay for the node to take back.
//! Uids and accounts may hold any printable character: they are percent-encoded.

/// The keys of one pool.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    root: String,
}

/// What a key of the pool names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    Node(String),
    Drain(String),
    Session(String),
    Port { node: String, port: u16 },
    Share { uid: String, node: String },
    Account(String),
    Bandwidth(String),
}

impl Keys {
    pub(crate) fn new(pool: &str) -> Keys {
        Keys {
            root: format!("/scistream/{}/", escape(pool)),
        }
    }

    /// The prefix of every key of the pool.
    pub(crate) fn root(&self) -> &str {
        &self.root
    }

    pub(crate) fn nodes(&self) -> String {
        format!("{}nodes/", self.root)
    }

    pub(crate) fn node(&self, name: &str) -> String {
        format!("{}{}", self.nodes(), escape(name))
    }

    pub(crate) fn drains(&self) -> String {
        format!("{}drain/", self.root)
    }

    pub(crate) fn drain(&self, name: &str) -> String {
        format!("{}{}", self.drains(), escape(name))
    }

    pub(crate) fn sessions(&self) -> String {
        format!("{}sessions/", self.root)
    }

    pub(crate) fn session(&self, uid: &str) -> String {
        format!("{}{}", self.sessions(), escape(uid))
    }

    pub(crate) fn port(&self, node: &str, port: u16) -> String {
        format!("{}ports/{}/{port}", self.root, escape(node))
    }

    pub(crate) fn shares(&self) -> String {
        format!("{}shares/", self.root)
    }

    /// The prefix of the shares of session `uid`.
    pub(crate) fn shares_of(&self, uid: &str) -> String {
        format!("{}{}/", self.shares(), escape(uid))
    }

    pub(crate) fn share(&self, uid: &str, node: &str) -> String {
        format!("{}{}", self.shares_of(uid), escape(node))
    }

    pub(crate) fn account(&self, account: &str) -> String {
        format!("{}accounts/{}", self.root, escape(account))
    }

    /// What node `node`'s sessions hold of its bandwidth.
    pub(crate) fn bandwidth(&self, node: &str) -> String {
        format!("{}bandwidth/{}", self.root, escape(node))
    }

    /// What `key` names, if it is one of this pool's.
    pub(crate) fn parse(&self, key: &str) -> Option<Key> {
        let rest = key.strip_prefix(&self.root)?;
        let (kind, rest) = rest.split_once('/')?;
        let parts: Vec<String> = rest.split('/').map(unescape).collect::<Option<_>>()?;
        match (kind, parts.as_slice()) {
            ("nodes", [name]) => Some(Key::Node(name.clone())),
            ("drain", [name]) => Some(Key::Drain(name.clone())),
            ("sessions", [uid]) => Some(Key::Session(uid.clone())),
            ("ports", [node, port]) => Some(Key::Port {
                node: node.clone(),
                port: port.parse().ok()?,
            }),
            ("shares", [uid, node]) => Some(Key::Share {
                uid: uid.clone(),
                node: node.clone(),
            }),
            ("accounts", [account]) => Some(Key::Account(account.clone())),
            ("bandwidth", [node]) => Some(Key::Bandwidth(node.clone())),
            _ => None,
        }
    }
}

/// `text` with every byte but letters, digits and `-._:@` written `%XX`, so that a key's parts
/// never hold its separator.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b':' | b'@' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn unescape(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_reads_back_as_what_it_names() {
        let keys = Keys::new("aps");
        let uid = "a/b c%d";
        let cases = [
            (keys.node("gw-1"), Key::Node("gw-1".into())),
            (keys.drain("gw-1"), Key::Drain("gw-1".into())),
            (keys.session(uid), Key::Session(uid.into())),
            (
                keys.port("gw-1", 5100),
                Key::Port {
                    node: "gw-1".into(),
                    port: 5100,
                },
            ),
            (
                keys.share(uid, "gw-2"),
                Key::Share {
                    uid: uid.into(),
                    node: "gw-2".into(),
                },
            ),
            (keys.account("id:x/y"), Key::Account("id:x/y".into())),
            (keys.bandwidth("n/1"), Key::Bandwidth("n/1".into())),
        ];
        for (key, named) in cases {
            assert!(key.starts_with("/scistream/aps/"), "{key}");
            assert_eq!(keys.parse(&key), Some(named), "{key}");
        }
        assert_eq!(keys.session(uid), "/scistream/aps/sessions/a%2Fb%20c%25d");
    }

    #[test]
    fn keys_of_other_pools_and_strangers_are_not_ours() {
        let keys = Keys::new("aps");
        assert_eq!(keys.parse(&Keys::new("apsx").node("gw")), None);
        assert_eq!(keys.parse("/scistream/aps/sessions/a/b"), None);
        assert_eq!(keys.parse("/scistream/aps/ports/gw/notaport"), None);
        assert_eq!(keys.parse("/scistream/aps/sessions/%zz"), None);
    }
}
