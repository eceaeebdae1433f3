//! `app recv`: take `app send`'s streams, check each one's frames against its trailer, ack it,
//! and return once every stream of the transfer has ended. The receiver either accepts the
//! sender's connections (the headers say how many) or opens them itself (it is told how many).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use indicatif::ProgressBar;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::wire::{
    self, Header, RunToken, StreamSum, Tally, FRAME, HEADER_LEN, MAX_STREAMS, PROOF_LEN,
};
use super::Report;
use crate::address::HostPort;

/// How long a new connection may take to send its header before it is dropped.
const HEADER_WAIT: Duration = Duration::from_secs(10);

/// The streams seen so far: how many the transfer has, which have begun, and when the first
/// began.
#[derive(Default)]
struct Transfer {
    streams: u32,
    /// Empty until the count is known: from the first header, or from the start.
    begun: Vec<bool>,
    started: Option<Instant>,
}

impl Transfer {
    /// A transfer of `streams` streams: this end opened them, so it knows how many.
    fn expecting(streams: u32) -> Transfer {
        Transfer {
            streams,
            begun: vec![false; streams as usize],
            started: None,
        }
    }

    fn begin(&mut self, header: Header) -> Result<(), String> {
        if self.begun.is_empty() {
            self.streams = header.streams;
            self.begun = vec![false; header.streams as usize];
        }
        self.started.get_or_insert_with(Instant::now);
        if header.streams != self.streams {
            return Err(format!(
                "the sender sends {} streams, not {}: run one `app recv` per `app send`, and give \
                 `app recv --connect` the sender's --streams",
                header.streams, self.streams
            ));
        }
        match std::mem::replace(&mut self.begun[header.index as usize], true) {
            true => Err(format!("stream {} arrived twice", header.index)),
            false => Ok(()),
        }
    }

    /// The report once every stream has ended: `sums` in stream order.
    fn report(&self, sums: Vec<Option<StreamSum>>) -> Report {
        let elapsed = self
            .started
            .map_or(Duration::ZERO, |started| started.elapsed());
        let sums: Vec<StreamSum> = sums.into_iter().flatten().collect();
        Report::new(&sums, elapsed)
    }
}

/// What a connection turned out to be.
enum Outcome {
    Stream(Header, StreamSum),
    /// Not a sender's stream (a port scan, a wrong client).
    Stranger(SocketAddr, String),
}

/// Receives on `listener` until every stream of one `app send` has ended and matched; drops
/// connections that are not its streams (with a `token`: that do not prove it) with a warning.
pub(crate) async fn accept(
    listener: TcpListener,
    token: Option<&RunToken>,
    progress: &ProgressBar,
) -> Result<Report> {
    let transfer = Arc::new(Mutex::new(Transfer::default()));
    let mut tasks = JoinSet::new();
    let mut sums: Vec<Option<StreamSum>> = Vec::new();
    loop {
        tokio::select! {
            // Bounded: at most MAX_STREAMS connections (and frame buffers) at once.
            accepted = listener.accept(), if tasks.len() < MAX_STREAMS as usize => {
                let (connection, peer) = accepted.context("could not accept a connection")?;
                let (transfer, progress, token) = (transfer.clone(), progress.clone(), token.cloned());
                tasks.spawn(async move {
                    recv_stream(connection, peer, token.as_ref(), &transfer, &progress).await
                });
            }
            Some(joined) = tasks.join_next() => match joined?? {
                Outcome::Stranger(peer, why) => {
                    tracing::warn!(%peer, "dropped a connection that is not a sender's stream: {why}");
                }
                Outcome::Stream(header, sum) => {
                    sums.resize(header.streams as usize, None);
                    sums[header.index as usize] = Some(sum);
                    if sums.iter().all(Option::is_some) {
                        break;
                    }
                }
            },
        }
    }
    let report = transfer.lock().unwrap().report(sums);
    Ok(report)
}

/// Opens `streams` connections to `target` (`app send --listen`, or a session's listener in
/// front of it) and receives on them until all have ended and matched. With a `token`, each
/// connection starts with its greeting, and the sender's streams must prove it too.
pub(crate) async fn connect(
    target: &HostPort,
    streams: u32,
    token: Option<&RunToken>,
    progress: &ProgressBar,
) -> Result<Report> {
    let transfer = Arc::new(Mutex::new(Transfer::expecting(streams)));
    let mut tasks = JoinSet::new();
    for _ in 0..streams {
        let mut connection = target.connect().await.with_context(|| {
            format!("could not connect to {target}: is `scistream app send --listen` (or a session's listener) there?")
        })?;
        if let Some(token) = token {
            connection.write_all(&token.greeting()).await?;
        }
        let peer = connection.peer_addr()?;
        let (transfer, progress, token) = (transfer.clone(), progress.clone(), token.cloned());
        tasks.spawn(async move {
            recv_stream(connection, peer, token.as_ref(), &transfer, &progress).await
        });
    }
    let mut sums = vec![None; streams as usize];
    while let Some(joined) = tasks.join_next().await {
        match joined?? {
            Outcome::Stranger(peer, why) => bail!(
                "{peer} did not send a stream: {why}; is `scistream app send --listen` behind it?"
            ),
            Outcome::Stream(header, sum) => sums[header.index as usize] = Some(sum),
        }
    }
    let report = transfer.lock().unwrap().report(sums);
    Ok(report)
}

async fn recv_stream(
    mut connection: TcpStream,
    peer: SocketAddr,
    token: Option<&RunToken>,
    transfer: &Mutex<Transfer>,
    progress: &ProgressBar,
) -> Result<Outcome> {
    let read = tokio::time::timeout(HEADER_WAIT, read_header(&mut connection, token)).await;
    let header = match read {
        Ok(Ok(header)) => header,
        Ok(Err(why)) => return Ok(Outcome::Stranger(peer, why)),
        Err(_) => {
            return Ok(Outcome::Stranger(
                peer,
                "it sent no header within 10 s".into(),
            ))
        }
    };
    let index = header.index;
    transfer
        .lock()
        .unwrap()
        .begin(header)
        .map_err(|why| anyhow!("stream {index} from {peer}: {why}"))?;
    let received = read_payload(&mut connection, progress).await;
    let (got, sent) = received.with_context(|| format!("stream {index} from {peer} was cut"))?;
    if got != sent {
        bail!(
            "stream {index} from {peer}: received {} bytes that do not match the {} bytes sent \
             (sha256 differs); something on the path changed or lost data",
            got.bytes,
            sent.bytes
        );
    }
    // The ack only reassures the sender; this end has checked everything already.
    let _ = connection.write_all(&[wire::ACK]).await;
    Ok(Outcome::Stream(header, got))
}

/// Reads a stream's header, and the proof of the run's token when it has one; or why the
/// connection is not one of this run's streams.
async fn read_header(
    connection: &mut TcpStream,
    token: Option<&RunToken>,
) -> Result<Header, String> {
    let ended = |e: std::io::Error| format!("it ended before a header ({e})");
    let mut header = [0u8; HEADER_LEN];
    connection.read_exact(&mut header).await.map_err(ended)?;
    let (header, proved) = Header::decode(&header)?;
    let mut proof = [0u8; PROOF_LEN];
    if proved {
        connection.read_exact(&mut proof).await.map_err(ended)?;
    }
    RunToken::admits(token, proved.then_some(&proof))?;
    Ok(header)
}

/// Reads frames up to the trailer: returns what arrived and what the sender says it sent.
async fn read_payload(
    connection: &mut TcpStream,
    progress: &ProgressBar,
) -> Result<(StreamSum, StreamSum)> {
    let mut frame = vec![0u8; FRAME];
    let mut tally = Tally::default();
    loop {
        let mut len = [0u8; 4];
        connection.read_exact(&mut len).await?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            break;
        }
        if len > FRAME {
            bail!("a frame of {len} bytes is over the {FRAME}-byte limit");
        }
        connection.read_exact(&mut frame[..len]).await?;
        tally.add(&frame[..len]);
        progress.inc(len as u64);
    }
    let sent = wire::read_trailer(connection).await?;
    Ok((tally.finish(), sent))
}
