//! `req release`: close a session's listeners and connections and free its ports.

use anyhow::Result;
use clap::Args;

use super::GlobalArgs;
use crate::cmd::s2cs_args::S2csArgs;
use crate::cmd::values::parse_uid;

#[derive(Debug, Args)]
pub(crate) struct ReleaseArgs {
    #[command(flatten)]
    server: S2csArgs,
    /// Print one JSON object (uid, s2cs, listeners, targets) instead of text
    #[arg(long)]
    json: bool,
    /// The session uid to release
    #[arg(value_parser = parse_uid)]
    uid: String,
}

pub(crate) async fn run(global: &GlobalArgs, args: ReleaseArgs) -> Result<()> {
    let gateway = args.server.connect(global).await?;
    let released = gateway
        .client
        .release(&args.uid)
        .await
        .map_err(|s| gateway.failed(s))?;
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
