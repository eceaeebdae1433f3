//! `req list` and `req status`: the sessions a server holds, as text or JSON.

use std::fmt::Write;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Args;
use indicatif::{FormattedDuration, HumanBytes, HumanDuration};

use super::GlobalArgs;
use crate::client::ListFailed;
use crate::cmd::s2cs_args::S2csArgs;
use crate::cmd::values::parse_uid;
use crate::relay::BitRate;
use crate::session::{Expiry, SessionView, BITS_PER_KB};

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    server: S2csArgs,
    /// Print a JSON array of sessions instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    server: S2csArgs,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
    /// The session uid, as `req prod` printed it
    #[arg(value_parser = parse_uid)]
    uid: String,
}

pub(crate) async fn list(global: &GlobalArgs, args: ListArgs) -> Result<()> {
    let gateway = args.server.connect(global).await?;
    let listed = gateway.client.list().await.map_err(|failed| match failed {
        ListFailed::Refused(status) => gateway.failed(status),
        broken => anyhow::anyhow!(
            "could not list the sessions of s2cs {}: {broken}; stopped there (a broken or \
             hostile server?)",
            gateway.s2cs
        ),
    })?;
    let sessions = listed
        .into_iter()
        .map(SessionView::try_from)
        .collect::<Result<Vec<_>>>()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&sessions)?);
    } else if sessions.is_empty() {
        println!("No sessions on s2cs {}", args.server.s2cs);
    } else {
        print!("{}", session_table(&sessions, Utc::now()));
    }
    Ok(())
}

pub(crate) async fn status(global: &GlobalArgs, args: StatusArgs) -> Result<()> {
    let gateway = args.server.connect(global).await?;
    let info = gateway
        .client
        .status(&args.uid)
        .await
        .map_err(|s| gateway.failed(s))?;
    let session = SessionView::try_from(info)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&session)?);
    } else {
        print!("{}", session_details(&session, Utc::now()));
    }
    Ok(())
}

fn age(session: &SessionView) -> String {
    FormattedDuration(Duration::from_secs(session.age_secs)).to_string()
}

/// When the session expires, from `now`, and why (briefly): "6 days (lifetime)"; "-" from a
/// server that does not say.
fn expires_in(session: &SessionView, now: DateTime<Utc>) -> String {
    let Some(expires) = session.expires else {
        return "-".into();
    };
    let left = (expires.at - now).to_std().unwrap_or_default();
    let why = match expires.by {
        Expiry::Lifetime => "lifetime",
        Expiry::IdleTimeout => "idle",
        Expiry::UpdateTimeout => "no update",
    };
    match left.is_zero() {
        true => format!("now ({why})"),
        false => format!("{} ({why})", HumanDuration(left)),
    }
}

/// The table, with an OWNER column when the server named owners (authentication on), and a
/// NODES column when it is a pool's.
fn session_table(sessions: &[SessionView], now: DateTime<Utc>) -> String {
    let rows = match sessions.iter().any(|s| !s.listener_nodes.is_empty()) {
        false => table(
            session_header(),
            &(sessions.iter())
                .map(|s| session_row(s, now))
                .collect::<Vec<_>>(),
        ),
        true => table(
            with_nodes(session_header(), "NODES"),
            &(sessions.iter())
                .map(|s| with_nodes(session_row(s, now), nodes(s)))
                .collect::<Vec<_>>(),
        ),
    };
    if sessions.iter().all(|s| s.owner.is_none()) {
        return rows;
    }
    let owners =
        std::iter::once("OWNER").chain(sessions.iter().map(|s| s.owner.as_deref().unwrap_or("-")));
    let width = owners.clone().map(|o| o.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (line, owner) in rows.lines().zip(owners) {
        let _ = writeln!(out, "{owner:<width$}  {line}");
    }
    out
}

fn session_header() -> [&'static str; 10] {
    [
        "UID",
        "ROLE",
        "STATE",
        "AGE",
        "CONN",
        "TO TARGET",
        "FROM TARGET",
        "LISTENERS",
        "TARGETS",
        "EXPIRES IN",
    ]
}

/// A row of the table with a last cell for the nodes.
fn with_nodes<T>(row: [T; 10], nodes: T) -> [T; 11] {
    let [a, b, c, d, e, f, g, h, i, j] = row;
    [a, b, c, d, e, f, g, h, i, j, nodes]
}

/// The pool nodes holding a session's listeners, each once.
fn nodes(s: &SessionView) -> String {
    let mut nodes: Vec<&str> = Vec::new();
    for node in &s.listener_nodes {
        if !nodes.contains(&node.as_str()) {
            nodes.push(node);
        }
    }
    nodes.join(",")
}

fn session_row(s: &SessionView, now: DateTime<Utc>) -> [String; 10] {
    [
        s.uid.clone(),
        s.role.as_str().into(),
        s.state.as_str().into(),
        age(s),
        format!(
            "{}/{}",
            s.stats.connections_active, s.stats.connections_total
        ),
        HumanBytes(s.stats.bytes_to_target).to_string(),
        HumanBytes(s.stats.bytes_from_target).to_string(),
        s.listeners.join(","),
        s.targets.join(","),
        expires_in(s, now),
    ]
}

/// Columns padded to their widest cell, two spaces apart.
fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for cells in std::iter::once(header.map(String::from)).chain(rows.iter().cloned()) {
        let mut line = String::new();
        for (cell, width) in cells.iter().zip(widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn session_details(s: &SessionView, now: DateTime<Utc>) -> String {
    let stats = &s.stats;
    let bytes = |n: u64| format!("{} ({n} bytes)", HumanBytes(n));
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "{name:<13}{value}");
    };
    field("uid", s.uid.clone());
    if let Some(owner) = &s.owner {
        field("owner", owner.clone());
    }
    field("role", s.role.as_str().into());
    field("state", s.state.as_str().into());
    field("age", age(s));
    if let Some(expires) = &s.expires {
        let why = match expires.by {
            Expiry::Lifetime => "its lifetime ends",
            Expiry::IdleTimeout => {
                "no relayed connection open for the server's --session-idle-timeout"
            }
            Expiry::UpdateTimeout => "no update within the server's --update-timeout",
        };
        let at = expires
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let left = expires_in(s, now);
        let left = left.split(" (").next().unwrap_or_default();
        field("expires", format!("in {left} ({at}): {why}"));
    }
    field("rate", rate(s));
    if s.throughput.over_ms > 0 {
        field("throughput", throughput(s));
    }
    if !s.allow_from.is_empty() {
        field("allow from", s.allow_from.join(","));
    }
    field(
        "connections",
        format!(
            "{} active, {} total",
            stats.connections_active, stats.connections_total
        ),
    );
    field("to target", bytes(stats.bytes_to_target));
    field("from target", bytes(stats.bytes_from_target));
    for (i, route) in routes(s).into_iter().enumerate() {
        field(if i == 0 { "listeners" } else { "" }, route);
    }
    out
}

/// The rate asked for, in kb/s and in its unit, and what the server does with it.
fn rate(s: &SessionView) -> String {
    let kbps = u64::try_from(s.rate).unwrap_or_default();
    let asked = match BitRate::new(kbps * BITS_PER_KB) {
        Some(rate) => format!("{} kb/s ({rate})", s.rate),
        None => "0 (no limit)".into(),
    };
    match s.rate_policy.as_str() {
        "ignore" => format!("{asked}, not enforced (server --rate-policy ignore)"),
        "limit" if kbps > 0 => format!("{asked}, enforced in each direction"),
        "reserve" => format!("{asked}, reserved and enforced in each direction"),
        _ => asked,
    }
}

/// What the session moved per second each way, over how long.
fn throughput(s: &SessionView) -> String {
    let t = &s.throughput;
    let shown = |bps| BitRate::new(bps).map_or_else(|| "0 bit/s".into(), |r| r.to_string());
    format!(
        "{} to target, {} from target (over {:.1} s)",
        shown(t.to_target_bps),
        shown(t.from_target_bps),
        t.over_ms as f64 / 1000.0
    )
}

/// "listener -> target" per listener: listener i relays to `targets[i % targets.len()]`; in a
/// pool, with the node holding it; a lost listener says so.
fn routes(s: &SessionView) -> Vec<String> {
    s.listeners
        .iter()
        .enumerate()
        .map(|(i, listener)| {
            let mut route = match s.targets.len() {
                0 => format!("{listener} -> (no target yet)"),
                n => format!("{listener} -> {}", s.targets[i % n]),
            };
            let node = s.listener_nodes.get(i);
            if let Some(node) = node {
                route.push_str(&format!(" on node {node}"));
            }
            match (s.lost_listeners.contains(listener), node) {
                (false, _) => route,
                (true, None) => format!("{route} (lost: not bound again after a restart)"),
                (true, Some(node)) => format!(
                    "{route} (lost: node {node} is out of the pool or could not bind it; it \
                     comes back when the node does)"
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::{RelayStats, Throughput};
    use crate::session::{Role, State};

    fn session(targets: &[&str]) -> SessionView {
        SessionView {
            uid: "u-1".into(),
            role: Role::Prod,
            owner: None,
            lost_listeners: Vec::new(),
            listener_nodes: Vec::new(),
            rate: 10000,
            rate_policy: "limit".into(),
            throughput: Throughput {
                to_target_bps: 9_990_000,
                from_target_bps: 0,
                over_ms: 2_500,
            },
            allow_from: vec!["10.0.0.0/8".into()],
            state: State::Relaying,
            listeners: vec!["10.0.0.1:5100".into(), "10.0.0.1:5101".into()],
            prod_listeners: vec![],
            targets: targets.iter().map(|t| t.to_string()).collect(),
            age_secs: 65,
            expires: None,
            stats: RelayStats {
                bytes_to_target: 3 * 1024 * 1024,
                bytes_from_target: 10,
                connections_active: 1,
                connections_total: 2,
            },
        }
    }

    #[test]
    fn the_table_aligns_columns_under_their_headers() {
        let text = session_table(&[session(&["10.0.0.2:7000"])], Utc::now());
        assert_eq!(
            text,
            "UID  ROLE  STATE     AGE       CONN  TO TARGET  FROM TARGET  LISTENERS                    TARGETS        EXPIRES IN\n\
             u-1  PROD  relaying  00:01:05  1/2   3.00 MiB   10 B         10.0.0.1:5100,10.0.0.1:5101  10.0.0.2:7000  -\n"
        );
    }

    #[test]
    fn owners_get_a_first_column_when_the_server_names_them() {
        let mut owned = session(&["10.0.0.2:7000"]);
        owned.owner = Some("alice@anl.gov".into());
        let text = session_table(&[owned.clone(), session(&[])], Utc::now());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("OWNER          UID  ROLE"), "{text}");
        assert!(lines[1].starts_with("alice@anl.gov  u-1  PROD"), "{text}");
        assert!(lines[2].starts_with("-              u-1  PROD"), "{text}");
        assert!(session_details(&owned, Utc::now()).contains("owner        alice@anl.gov\n"));
    }

    #[test]
    fn details_show_the_rate_what_is_done_with_it_and_the_throughput() {
        let text = session_details(&session(&["10.0.0.2:7000"]), Utc::now());
        for line in [
            "rate         10000 kb/s (10 Mbit/s), enforced in each direction\n",
            "throughput   9.99 Mbit/s to target, 0 bit/s from target (over 2.5 s)\n",
            "allow from   10.0.0.0/8\n",
        ] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }
        let ignored = SessionView {
            rate_policy: "ignore".into(),
            ..session(&[])
        };
        assert!(session_details(&ignored, Utc::now()).contains("not enforced"));
    }

    #[test]
    fn the_table_and_the_details_say_when_and_why_a_session_expires() {
        let now: DateTime<Utc> = "2026-05-01T10:00:00Z".parse().unwrap();
        let at = |secs| {
            let at = std::time::SystemTime::from(now) + Duration::from_secs(secs);
            crate::session::Expires::new(at, Expiry::IdleTimeout)
        };
        let idle = SessionView {
            expires: Some(at(3 * 3600)),
            ..session(&[])
        };
        assert_eq!(expires_in(&idle, now), "3 hours (idle)");
        let due = SessionView {
            expires: Some(at(0)),
            ..session(&[])
        };
        assert_eq!(expires_in(&due, now), "now (idle)");
        let table = session_table(std::slice::from_ref(&idle), now);
        assert!(
            table.lines().nth(1).unwrap().ends_with("  3 hours (idle)"),
            "{table}"
        );
        let details = session_details(&idle, now);
        let line = "expires      in 3 hours (2026-05-01T13:00:00Z): no relayed connection open \
                    for the server's --session-idle-timeout\n";
        assert!(details.contains(line), "{details}");
    }

    #[test]
    fn a_pools_sessions_name_their_nodes_and_say_which_are_lost() {
        let mut pooled = session(&["10.0.0.2:7000"]);
        pooled.listener_nodes = vec!["gw-a".into(), "gw-b".into()];
        pooled.lost_listeners = vec!["10.0.0.1:5101".into()];
        let table = session_table(std::slice::from_ref(&pooled), Utc::now());
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].ends_with("EXPIRES IN  NODES"), "{table}");
        assert!(lines[1].ends_with("  gw-a,gw-b"), "{table}");
        let text = session_details(&pooled, Utc::now());
        assert!(
            text.contains("10.0.0.1:5100 -> 10.0.0.2:7000 on node gw-a\n"),
            "{text}"
        );
        assert!(
            text.contains("10.0.0.1:5101 -> 10.0.0.2:7000 on node gw-b (lost: node gw-b is out"),
            "{text}"
        );
    }

    #[test]
    fn details_pair_each_listener_with_its_target() {
        let text = session_details(&session(&["10.0.0.2:7000"]), Utc::now());
        assert!(
            text.contains("listeners    10.0.0.1:5100 -> 10.0.0.2:7000\n"),
            "{text}"
        );
        assert!(
            text.contains("             10.0.0.1:5101 -> 10.0.0.2:7000\n"),
            "{text}"
        );
        let waiting = session_details(&session(&[]), Utc::now());
        assert!(
            waiting.contains("10.0.0.1:5100 -> (no target yet)"),
            "{waiting}"
        );
    }
}
