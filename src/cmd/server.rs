//! Work in progress (foundation issue): replaced by the real subcommand.
use clap::Args;

#[derive(Debug, Args)]
pub struct ServerArgs {}

pub async fn run(_global: &super::GlobalArgs, _args: ServerArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
