//! The RPCs of the `Control` service: one typed list, so metrics, logs and the authorize filter
//! name them alike and a new RPC cannot be counted as "unknown" by accident (a test checks the
//! list against the proto).

use crate::pb::control_server::SERVICE_NAME;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rpc {
    Req,
    Hello,
    Update,
    Release,
    List,
    Status,
    Hop,
    UpdateHop,
}

impl Rpc {
    pub(crate) const ALL: [Rpc; 8] = [
        Rpc::Req,
        Rpc::Hello,
        Rpc::Update,
        Rpc::Release,
        Rpc::List,
        Rpc::Status,
        Rpc::Hop,
        Rpc::UpdateHop,
    ];

    /// The method's name in the proto, which is also its metrics label and log event.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Rpc::Req => "req",
            Rpc::Hello => "hello",
            Rpc::Update => "update",
            Rpc::Release => "release",
            Rpc::List => "list",
            Rpc::Status => "status",
            Rpc::Hop => "hop",
            Rpc::UpdateHop => "update_hop",
        }
    }

    /// The RPC a gRPC path (`/scistream.Control/req`) names; None for any other path.
    pub(crate) fn from_path(path: &str) -> Option<Rpc> {
        let method = path
            .strip_prefix('/')?
            .strip_prefix(SERVICE_NAME)?
            .strip_prefix('/')?;
        Rpc::ALL.into_iter().find(|rpc| rpc.as_str() == method)
    }
}

/// What a call is counted and logged under: its RPC, or "unknown" for a path that names none,
/// so a client cannot grow the label set.
pub(crate) fn label(rpc: Option<Rpc>) -> &'static str {
    rpc.map_or("unknown", Rpc::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The method names of `rpc NAME (...)` lines in the proto the service is generated from.
    fn proto_rpcs() -> Vec<&'static str> {
        include_str!("../../proto/scistream.proto")
            .lines()
            .filter_map(|line| line.trim().strip_prefix("rpc "))
            .map(|rest| rest.split('(').next().unwrap_or_default().trim())
            .collect()
    }

    #[test]
    fn every_rpc_of_the_proto_has_a_variant_and_no_variant_is_extra() {
        let mut proto = proto_rpcs();
        for name in &proto {
            let path = format!("/{SERVICE_NAME}/{name}");
            let rpc = Rpc::from_path(&path).unwrap_or_else(|| panic!("{name} has no Rpc"));
            assert_eq!(rpc.as_str(), *name);
        }
        let mut variants = Rpc::ALL.map(Rpc::as_str);
        variants.sort_unstable();
        proto.sort_unstable();
        assert_eq!(variants.as_slice(), proto.as_slice());
    }

    #[test]
    fn other_paths_are_unknown() {
        for path in [
            "/scistream.Control/nope",
            "/scistream.Control/req/x",
            "/other.Service/req",
            "req",
            "",
        ] {
            assert_eq!(Rpc::from_path(path), None, "{path}");
        }
        assert_eq!(label(None), "unknown");
    }
}
