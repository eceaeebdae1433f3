//! Where a new session's listeners go: one at a time to the least loaded node that has a free
//! port, so that 8 listeners over 4 idle nodes are 2 each, and a busy node gets fewer.

use std::net::{IpAddr, SocketAddr};

/// A node a session may be placed on: live, not draining.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub(crate) name: String,
    pub(crate) ip: IpAddr,
    /// Its free ports, in the order to take them.
    pub(crate) free: Vec<u16>,
    /// The listeners it holds now.
    pub(crate) held: usize,
    /// The relayed connections it has open now (breaks ties between equally held nodes).
    pub(crate) connections: u64,
}

/// Listener i of the session goes to `nodes[i]`, at `listeners[i]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Placed {
    pub(crate) nodes: Vec<String>,
    pub(crate) listeners: Vec<SocketAddr>,
}

/// Not enough free ports over the candidates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shortfall {
    pub(crate) wanted: usize,
    pub(crate) free: usize,
    /// How many nodes could take listeners.
    pub(crate) nodes: usize,
}

/// Places `wanted` listeners over `candidates`, each on the node holding the fewest listeners
/// (counting those placed so far), then with the fewest connections, then by name.
pub(crate) fn spread(mut candidates: Vec<Candidate>, wanted: usize) -> Result<Placed, Shortfall> {
    let shortfall = Shortfall {
        wanted,
        free: candidates.iter().map(|c| c.free.len()).sum(),
        nodes: candidates.len(),
    };
    if shortfall.free < wanted {
        return Err(shortfall);
    }
    for candidate in &mut candidates {
        // Taken from the back: the first free port goes first.
        candidate.free.reverse();
    }
    let mut placed = Placed {
        nodes: Vec::with_capacity(wanted),
        listeners: Vec::with_capacity(wanted),
    };
    for _ in 0..wanted {
        let node = (candidates.iter_mut())
            .filter(|c| !c.free.is_empty())
            .min_by(|a, b| load(a).cmp(&load(b)));
        let Some((node, port)) = node.and_then(|n| n.free.pop().map(|port| (n, port))) else {
            return Err(shortfall);
        };
        node.held += 1;
        placed.nodes.push(node.name.clone());
        placed.listeners.push(SocketAddr::new(node.ip, port));
    }
    Ok(placed)
}

fn load(candidate: &Candidate) -> (usize, u64, &str) {
    (candidate.held, candidate.connections, &candidate.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, last_octet: u8, free: std::ops::Range<u16>, held: usize) -> Candidate {
        Candidate {
            name: name.into(),
            ip: IpAddr::from([10, 0, 0, last_octet]),
            free: free.collect(),
            held,
            connections: 0,
        }
    }

    fn count(placed: &Placed, name: &str) -> usize {
        placed.nodes.iter().filter(|n| *n == name).count()
    }

    #[test]
    fn idle_nodes_get_equal_shares_in_turn() {
        let nodes = ["a", "b", "c", "d"].map(|n| node(n, 1, 5100..5110, 0));
        let placed = spread(nodes.to_vec(), 8).unwrap();
        assert_eq!(placed.nodes, ["a", "b", "c", "d", "a", "b", "c", "d"]);
        assert_eq!(placed.listeners[0], "10.0.0.1:5100".parse().unwrap());
        assert_eq!(placed.listeners[4], "10.0.0.1:5101".parse().unwrap());
    }

    #[test]
    fn the_least_loaded_fill_up_first() {
        let nodes = vec![node("a", 1, 5100..5110, 4), node("b", 2, 5100..5110, 0)];
        let placed = spread(nodes, 6).unwrap();
        assert_eq!((count(&placed, "a"), count(&placed, "b")), (1, 5));
        // Equal holdings: the one with fewer connections first.
        let mut quiet = node("z", 3, 5100..5101, 0);
        let mut busy = node("y", 4, 5100..5101, 0);
        (quiet.connections, busy.connections) = (1, 9);
        assert_eq!(spread(vec![busy, quiet], 1).unwrap().nodes, ["z"]);
    }

    #[test]
    fn a_full_node_is_passed_over_and_a_short_pool_says_so() {
        let nodes = vec![node("a", 1, 5100..5101, 0), node("b", 2, 5100..5110, 0)];
        let placed = spread(nodes.clone(), 4).unwrap();
        assert_eq!((count(&placed, "a"), count(&placed, "b")), (1, 3));
        let short = spread(nodes, 12).unwrap_err();
        assert_eq!(
            short,
            Shortfall {
                wanted: 12,
                free: 11,
                nodes: 2
            }
        );
    }
}
