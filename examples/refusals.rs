//! How fast a gateway says no, for `bench/fairness.sh`: sends `--count` reqs, one after another
//! on one connection, that the server must refuse with RESOURCE_EXHAUSTED (a rate past what its
//! `--rate-policy reserve` has free, or a session past this client's quota), and prints the
//! median and 99th percentile of the answer times in milliseconds: `MEDIAN_MS P99_MS`.
//!
//! ```sh
//! cargo run --release --example refusals -- --s2cs 127.0.0.1:5000 --rate 2000000
//! ```

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use scistream::pb;
use scistream::pb::control_client::ControlClient;

#[derive(Parser)]
struct Args {
    /// The gateway's control address (plaintext gRPC)
    #[arg(long)]
    s2cs: String,
    /// The rate (kb/s) each req asks for: more than the gateway has free, for a reservation's
    /// refusal
    #[arg(long, default_value_t = 10000)]
    rate: i32,
    /// Reqs to send
    #[arg(long, default_value_t = 200)]
    count: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let mut client = ControlClient::connect(format!("http://{}", args.s2cs))
        .await
        .with_context(|| format!("could not connect to {}", args.s2cs))?;
    let mut times = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let req = pb::Request {
            uid: format!("refused-{i}"),
            role: "PROD".into(),
            num_conn: 1,
            rate: args.rate,
            ..Default::default()
        };
        let sent = Instant::now();
        // An admitted req would wait for its hello: give up long before.
        let answer = tokio::time::timeout(Duration::from_secs(5), client.req(req)).await;
        times.push(sent.elapsed());
        match answer {
            Ok(Err(status)) if status.code() == tonic::Code::ResourceExhausted => {}
            Ok(Err(status)) => bail!("req {i} was refused otherwise: {status}"),
            _ => bail!("req {i} was admitted: the gateway had the bandwidth and the quota"),
        }
    }
    times.sort();
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("{:.3} {:.3}", ms(at(0.5)), ms(at(0.99)));
    Ok(())
}
