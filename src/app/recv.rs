//! `app recv`: accept `app send`'s streams, check each one's frames against its trailer, ack
//! it, and return once every stream the headers announced has ended.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use indicatif::ProgressBar;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::wire::{self, Header, StreamSum, Tally, FRAME, HEADER_LEN, MAX_STREAMS};
use super::Report;

/// How long a new connection may take to send its header before it is dropped.
const HEADER_WAIT: Duration = Duration::from_secs(10);

/// The streams seen so far: how many the senders announced, which have begun, and when the
/// first began.
#[derive(Default)]
struct Transfer {
    streams: u32,
    begun: Vec<bool>,
    started: Option<Instant>,
}

impl Transfer {
    fn begin(&mut self, header: Header) -> Result<(), String> {
        if self.started.is_none() {
            self.streams = header.streams;
            self.begun = vec![false; header.streams as usize];
            self.started = Some(Instant::now());
        }
        if header.streams != self.streams {
            return Err(format!(
                "it belongs to a transfer of {} streams, not of {}: one `app recv` per `app send`",
                header.streams, self.streams
            ));
        }
        match std::mem::replace(&mut self.begun[header.index as usize], true) {
            true => Err(format!("stream {} arrived twice", header.index)),
            false => Ok(()),
        }
    }
}

/// What a connection turned out to be.
enum Outcome {
    Stream(Header, StreamSum),
    /// Not a sender's stream (a port scan, a wrong client): dropped with a warning.
    Stranger(SocketAddr, String),
}

/// Receives on `listener` until every stream of one `app send` has ended and matched.
pub async fn recv(listener: TcpListener, progress: &ProgressBar) -> Result<Report> {
    let transfer = Arc::new(Mutex::new(Transfer::default()));
    let mut tasks = JoinSet::new();
    let mut sums: Vec<Option<StreamSum>> = Vec::new();
    loop {
        tokio::select! {
            // Bounded: at most MAX_STREAMS connections (and frame buffers) at once.
            accepted = listener.accept(), if tasks.len() < MAX_STREAMS as usize => {
                let (connection, peer) = accepted.context("could not accept a connection")?;
                let (transfer, progress) = (transfer.clone(), progress.clone());
                tasks.spawn(async move { recv_stream(connection, peer, &transfer, &progress).await });
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
    let started = transfer
        .lock()
        .unwrap()
        .started
        .expect("a stream has begun");
    let sums: Vec<StreamSum> = sums.into_iter().flatten().collect();
    Ok(Report::new(&sums, started.elapsed()))
}

async fn recv_stream(
    mut connection: TcpStream,
    peer: SocketAddr,
    transfer: &Mutex<Transfer>,
    progress: &ProgressBar,
) -> Result<Outcome> {
    let mut header = [0u8; HEADER_LEN];
    let header = match tokio::time::timeout(HEADER_WAIT, connection.read_exact(&mut header)).await {
        Ok(Ok(_)) => match Header::decode(&header) {
            Ok(header) => header,
            Err(why) => return Ok(Outcome::Stranger(peer, why)),
        },
        Ok(Err(e)) => {
            return Ok(Outcome::Stranger(
                peer,
                format!("it ended before a header ({e})"),
            ))
        }
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
