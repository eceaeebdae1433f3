//! `app send`: send pseudo-random frames over K streams until the byte budget or the time is
//! spent; each stream ends with its trailer and waits for the receiver's ack. The sender either
//! opens the K connections or accepts the receiver's; either way it numbers the streams.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinError, JoinSet};

use super::wire::{self, Header, RunToken, StreamSum, Tally, FRAME, GREETING_LEN, MAX_STREAMS};
use super::Report;
use crate::address::HostPort;

/// How long a connection may take to greet a listening sender of a run with a token.
const GREETING_WAIT: Duration = Duration::from_secs(10);

/// How much to send.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Amount {
    /// In all, split evenly over the streams.
    Bytes(u64),
    /// On every stream, for this long.
    Time(Duration),
}

/// Opens `streams` connections to `target`, then sends on them (each header proving `token`,
/// if given); returns what was sent (and acknowledged).
pub(crate) async fn connect(
    target: &HostPort,
    amount: Amount,
    streams: u32,
    token: Option<RunToken>,
    progress: &ProgressBar,
) -> Result<Report> {
    let mut connections = Vec::new();
    for _ in 0..streams {
        let connection = target.connect().await.with_context(|| {
            format!("could not connect to {target}: is `scistream app recv --listen` (or a session's listener) there?")
        })?;
        connections.push(connection);
    }
    let mut transfer = Transfer::new(amount, streams, token, progress);
    for connection in connections {
        transfer.start(connection, &target.to_string());
    }
    transfer.finish().await
}

/// Accepts `streams` connections on `listener` and sends on each as it arrives, numbering the
/// streams in accept order; returns what was sent (and acknowledged). Without a `token`, every
/// connection counts: the receiver sends nothing first that would tell it from a stranger.
/// With one, only connections whose greeting proves it count; others are dropped with a
/// warning.
pub(crate) async fn accept(
    listener: TcpListener,
    amount: Amount,
    streams: u32,
    token: Option<RunToken>,
    progress: &ProgressBar,
) -> Result<Report> {
    let mut greetings = JoinSet::new();
    let mut transfer = Transfer::new(amount, streams, token.clone(), progress);
    while transfer.begun < streams {
        tokio::select! {
            // Bounded: at most MAX_STREAMS connections wait to greet at once.
            accepted = listener.accept(), if greetings.len() < MAX_STREAMS as usize => {
                let (connection, peer) = accepted.context("could not accept a connection")?;
                match token.clone() {
                    None => transfer.start(connection, &peer.to_string()),
                    Some(token) => {
                        greetings.spawn(async move { (peer, greeted(connection, &token).await) });
                    }
                }
            }
            Some(greeted) = greetings.join_next() => match greeted? {
                (peer, Ok(connection)) => transfer.start(connection, &peer.to_string()),
                (peer, Err(why)) => tracing::warn!(
                    %peer, "dropped a connection that is not this run's receiver: {why}"
                ),
            },
            // A stream may end, or fail, before the last one is accepted.
            Some(joined) = transfer.tasks.join_next() => transfer.record(joined)?,
        }
    }
    // Later connections are refused, not left waiting for a stream that never comes.
    drop(listener);
    transfer.finish().await
}

/// `connection` once its greeting proved `token`; or why it is not the run's receiver.
async fn greeted(mut connection: TcpStream, token: &RunToken) -> Result<TcpStream, String> {
    let mut greeting = [0u8; GREETING_LEN];
    match tokio::time::timeout(GREETING_WAIT, connection.read_exact(&mut greeting)).await {
        Ok(Ok(_)) => token.check_greeting(&greeting).map(|()| connection),
        Ok(Err(e)) => Err(format!("it ended before its greeting ({e})")),
        Err(_) => Err("it sent no greeting within 10 s".into()),
    }
}

/// The streams of one transfer: started in turn, each with the next index.
struct Transfer {
    amount: Amount,
    streams: u32,
    token: Option<RunToken>,
    progress: ProgressBar,
    begun: u32,
    started: Option<Instant>,
    tasks: JoinSet<(u32, Result<StreamSum>)>,
    sums: Vec<Option<StreamSum>>,
}

impl Transfer {
    fn new(
        amount: Amount,
        streams: u32,
        token: Option<RunToken>,
        progress: &ProgressBar,
    ) -> Transfer {
        Transfer {
            amount,
            streams,
            token,
            progress: progress.clone(),
            begun: 0,
            started: None,
            tasks: JoinSet::new(),
            sums: vec![None; streams as usize],
        }
    }

    fn start(&mut self, connection: TcpStream, peer: &str) {
        let (index, streams) = (self.begun, self.streams);
        self.begun += 1;
        let now = Instant::now();
        self.started.get_or_insert(now);
        let (budget, deadline) = match self.amount {
            Amount::Bytes(total) => (Some(share(total, streams, index)), None),
            Amount::Time(time) => (None, Some(now + time)),
        };
        let header = Header { index, streams }.encode(self.token.as_ref());
        let (progress, peer) = (self.progress.clone(), peer.to_string());
        self.tasks.spawn(async move {
            let sent = send_stream(connection, header, budget, deadline, &progress).await;
            (
                index,
                sent.with_context(|| format!("stream {index} to {peer} failed")),
            )
        });
    }

    fn record(&mut self, joined: Result<(u32, Result<StreamSum>), JoinError>) -> Result<()> {
        let (index, sum) = joined?;
        self.sums[index as usize] = Some(sum?);
        Ok(())
    }

    async fn finish(mut self) -> Result<Report> {
        while let Some(joined) = self.tasks.join_next().await {
            self.record(joined)?;
        }
        let sums: Vec<StreamSum> = self.sums.into_iter().flatten().collect();
        let elapsed = self
            .started
            .map_or(Duration::ZERO, |started| started.elapsed());
        Ok(Report::new(&sums, elapsed))
    }
}

/// Stream `index`'s part of `total` bytes: the remainder goes to the first streams.
fn share(total: u64, streams: u32, index: u32) -> u64 {
    let (each, rest) = (total / streams as u64, total % streams as u64);
    each + u64::from((index as u64) < rest)
}

async fn send_stream(
    mut connection: TcpStream,
    header: Vec<u8>,
    mut budget: Option<u64>,
    deadline: Option<Instant>,
    progress: &ProgressBar,
) -> Result<StreamSum> {
    connection.write_all(&header).await?;
    // One frame buffer, reused: a length prefix and FRAME random bytes.
    let mut frame = vec![0u8; 4 + FRAME];
    rand::rng().fill_bytes(&mut frame[4..]);
    let mut tally = Tally::default();
    for sequence in 0u64.. {
        let len = match (budget, deadline) {
            (Some(0), _) => break,
            (Some(left), _) => left.min(FRAME as u64) as usize,
            (None, Some(deadline)) if Instant::now() >= deadline => break,
            (None, _) => FRAME,
        };
        // Frames differ from each other, so a repeated or dropped frame changes the checksum.
        let stamp = sequence.to_be_bytes();
        let stamped = len.min(stamp.len());
        frame[4..4 + stamped].copy_from_slice(&stamp[..stamped]);
        frame[..4].copy_from_slice(&(len as u32).to_be_bytes());
        tally.add(&frame[4..4 + len]);
        connection.write_all(&frame[..4 + len]).await?;
        progress.inc(len as u64);
        if let Some(left) = &mut budget {
            *left -= len as u64;
        }
    }
    let sum = tally.finish();
    wire::write_trailer(&mut connection, &sum).await?;
    connection.shutdown().await?;
    let mut ack = [0u8; 1];
    match connection.read(&mut ack).await? {
        1 if ack[0] == wire::ACK => Ok(sum),
        _ => bail!(
            "the receiver did not confirm the stream's {} bytes; see what it printed",
            sum.bytes
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_total() {
        for (total, streams) in [(10, 3), (2, 5), (0, 1), (1 << 30, 64)] {
            let shares: Vec<u64> = (0..streams).map(|i| share(total, streams, i)).collect();
            assert_eq!(shares.iter().sum::<u64>(), total, "{shares:?}");
            assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1);
        }
    }
}
