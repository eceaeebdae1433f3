//! The pool of data-listener ports (`--port-range`) and the binding of session listeners.

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

use tokio::net::{TcpListener, TcpSocket};

use super::error::Error;

pub(crate) struct PortPool {
    ip: IpAddr,
    range: RangeInclusive<u16>,
    in_use: BTreeSet<u16>,
    /// Where the next scan starts: rotating keeps a just-freed port (and its TIME_WAIT
    /// connections) out of the next session.
    cursor: u16,
}

impl PortPool {
    pub(crate) fn new(ip: IpAddr, range: RangeInclusive<u16>) -> Self {
        let cursor = *range.start();
        PortPool {
            ip,
            range,
            in_use: BTreeSet::new(),
            cursor,
        }
    }

    /// Binds `n` listeners on free ports of the range. Ports that the OS reports busy (another
    /// program, or a listener still closing) are skipped. All or nothing.
    pub(crate) fn reserve(&mut self, n: usize) -> Result<Vec<TcpListener>, Error> {
        let mut bound = Vec::with_capacity(n);
        let mut busy = 0;
        for port in self.scan_order() {
            if bound.len() == n {
                break;
            }
            if self.in_use.contains(&port) {
                continue;
            }
            match bind(SocketAddr::new(self.ip, port)) {
                Ok(listener) => bound.push(listener),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => busy += 1,
                Err(e) => {
                    return Err(Error::Bind {
                        addr: SocketAddr::new(self.ip, port),
                        source: e,
                    })
                }
            }
        }
        if bound.len() < n {
            return Err(Error::PortsExhausted {
                wanted: n,
                range: format!("{}-{}", self.range.start(), self.range.end()),
                free: bound.len(),
                sessions: self.in_use.len(),
                elsewhere: busy,
            });
        }
        for listener in &bound {
            let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
            self.in_use.insert(port);
            self.cursor = port
                .checked_add(1)
                .filter(|p| self.range.contains(p))
                .unwrap_or(*self.range.start());
        }
        Ok(bound)
    }

    /// Binds the listener a restored session had at `addr` again; why not, if it cannot be.
    pub(crate) fn take_back(&mut self, addr: SocketAddr) -> Result<TcpListener, String> {
        if addr.ip() != self.ip {
            return Err(format!("the server's --listener-ip is {} now", self.ip));
        }
        if !self.range.contains(&addr.port()) || self.in_use.contains(&addr.port()) {
            return Err("its port is outside --port-range now".to_string());
        }
        let listener = bind(addr).map_err(|e| match e.kind() {
            io::ErrorKind::AddrInUse => "another program holds its port".to_string(),
            _ => e.to_string(),
        })?;
        self.in_use.insert(addr.port());
        Ok(listener)
    }

    /// Counts the listener at `addr`, handed over by the previous process, as in use (if it
    /// is in this pool's range: otherwise the pool never hands its port out anyway).
    pub(crate) fn adopt(&mut self, addr: SocketAddr) {
        if addr.ip() == self.ip && self.range.contains(&addr.port()) {
            self.in_use.insert(addr.port());
        }
    }

    pub(crate) fn free(&mut self, ports: impl IntoIterator<Item = u16>) {
        for port in ports {
            self.in_use.remove(&port);
        }
    }

    fn scan_order(&self) -> impl Iterator<Item = u16> {
        (self.cursor..=*self.range.end()).chain(*self.range.start()..self.cursor)
    }
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn pool_of(listener: &std::net::TcpListener, width: u16) -> PortPool {
        let start = listener.local_addr().unwrap().port();
        PortPool::new(Ipv4Addr::LOCALHOST.into(), start..=start + width)
    }

    #[tokio::test]
    async fn a_port_is_reserved_until_freed() {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut pool = pool_of(&probe, 0);
        drop(probe);
        let listeners = pool.reserve(1).expect("the probed port is free again");
        assert_eq!(pool.in_use.len(), 1);
        assert!(matches!(pool.reserve(1), Err(Error::PortsExhausted { .. })));
        let port = listeners[0].local_addr().unwrap().port();
        drop(listeners);
        pool.free([port]);
        assert_eq!(pool.reserve(1).expect("freed port is reusable").len(), 1);
    }

    #[tokio::test]
    async fn exhaustion_says_who_holds_the_ports() {
        let ip = Ipv4Addr::new(127, 43, 21, 1);
        let other_program = std::net::TcpListener::bind((ip, 0)).unwrap();
        let start = other_program.local_addr().unwrap().port();
        let mut pool = PortPool::new(ip.into(), start..=start + 1);
        let session = pool
            .reserve(1)
            .expect("the port next to the other program's is free");
        let err = pool.reserve(1).map(|v| v.len()).unwrap_err().to_string();
        assert!(
            err.contains("1 wanted, 0 free (1 in use by sessions, 1 held by other programs)"),
            "{err}"
        );
        drop(session);
        let mut pool = PortPool::new(ip.into(), start..=start);
        let err = pool.reserve(1).map(|v| v.len()).unwrap_err().to_string();
        assert!(
            err.contains("(0 in use by sessions, 1 held by other programs); stop"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn all_or_nothing_when_exhausted() {
        let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut pool = pool_of(&blocker, 0);
        match pool.reserve(1) {
            Err(Error::PortsExhausted {
                wanted: 1,
                sessions: 0,
                elsewhere: 1,
                ..
            }) => {}
            other => panic!("expected exhaustion, got {:?}", other.map(|v| v.len())),
        }
        assert_eq!(pool.in_use.len(), 0);
    }
}
