//! Counting a process's open file descriptors by what they hold: pipes, and TCP sockets picked
//! by their ports (from the namespace's /proc/net/tcp tables).

use std::collections::HashMap;

/// Counts the fds in `dir` (a `/proc/PID/fd`) that hold pipes, or TCP sockets that `counted`
/// picks by their ports.
pub fn pipe_and_tcp_fds(dir: &str, counted: impl Fn(&TcpPorts) -> bool) -> usize {
    let tcp = tcp_sockets();
    fd_links(dir)
        .filter(|link| {
            link.starts_with("pipe:")
                || socket_inode(link)
                    .and_then(|i| tcp.get(i))
                    .is_some_and(&counted)
        })
        .count()
}

/// What each fd in `dir` (a `/proc/PID/fd`) points at (`pipe:[123]`, `socket:[456]`...).
fn fd_links(dir: &str) -> impl Iterator<Item = String> {
    let fds = std::fs::read_dir(dir).unwrap();
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .map(|link| link.to_string_lossy().into_owned())
}

/// The inode of a `socket:[456]` fd link.
fn socket_inode(link: &str) -> Option<&str> {
    link.strip_prefix("socket:[")?.strip_suffix(']')
}

/// The two ends of a TCP socket, by port.
#[derive(Clone, Copy)]
pub struct TcpPorts {
    pub local: u16,
    pub remote: u16,
}

/// The TCP sockets of this network namespace by inode (the tenth column of /proc/net/tcp{,6}),
/// with their ports (the port after the colon of the second and third columns, in hex).
fn tcp_sockets() -> HashMap<String, TcpPorts> {
    let mut sockets = HashMap::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(table) = std::fs::read_to_string(table) else {
            continue;
        };
        for row in table.lines().skip(1) {
            let columns: Vec<&str> = row.split_whitespace().collect();
            let port = |column: usize| {
                let (_, hex) = columns.get(column)?.rsplit_once(':')?;
                u16::from_str_radix(hex, 16).ok()
            };
            if let (Some(local), Some(remote), Some(inode)) = (port(1), port(2), columns.get(9)) {
                sockets.insert(inode.to_string(), TcpPorts { local, remote });
            }
        }
    }
    sockets
}
