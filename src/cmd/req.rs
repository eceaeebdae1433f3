//! Work in progress (foundation issue): replaced by the real subcommand.
use clap::Args;

#[derive(Debug, Args)]
pub struct ReqArgs {}

pub async fn run(_global: &super::GlobalArgs, _args: ReqArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
