//! `req release`: close a session's listeners and connections and free its ports.

use anyhow::Result;
use clap::Args;

use super::{call_failed, connect, GlobalArgs, ServerAddr};

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    server: ServerAddr,
    /// Print one JSON object (uid, s2cs, listeners, targets) instead of text
    #[arg(long)]
    json: bool,
    /// The session uid to release
    uid: String,
}

pub async fn run(global: &GlobalArgs, args: ReleaseArgs) -> Result<()> {
    let (client, credentials) = connect(global, &args.server).await?;
    let released = client
        .release(&args.uid)
        .await
        .map_err(|s| call_failed(&args.server.s2cs, &credentials, s))?;
    if args.json {
        let value = serde_json::json!({
            "uid": args.uid, "s2cs": args.server.s2cs,
            "listeners": released.listeners, "targets": released.prod_listeners,
        });
        println!("{value}");
    } else {
        println!("Release completed");
    }
    Ok(())
}
