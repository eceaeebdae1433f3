//! `scistream logout`: revoke the stored tokens at the auth server and forget them.

use clap::Args;

use crate::auth::{token_store, AuthSettings, NativeClient};
use crate::config::file;
use crate::exit::Failure;
use crate::paths;
use crate::scope::ScopeId;

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Log out of this scope only [default: every stored scope]
    #[arg(long, value_name = "UUID")]
    pub(crate) scope: Option<ScopeId>,
}

pub(crate) async fn run(global: &super::GlobalArgs, args: LogoutArgs) -> anyhow::Result<()> {
    let path = paths::config_file(global.config.as_deref());
    let client = NativeClient::new(&AuthSettings::load(&file::load(&path)?)?)?;
    // Forget first: the local copies go even when the auth server cannot be reached.
    let removed = token_store::remove(&path, args.scope.as_ref()).await?;
    if removed.is_empty() {
        println!("Not logged in; nothing to log out.");
        return Ok(());
    }
    let mut failures = Vec::new();
    let mut unreachable = false;
    for (scope, tokens) in &removed {
        if let Err(err) = client.revoke(tokens).await {
            unreachable |= err.downcast_ref::<Failure>().is_some();
            failures.push(format!(
                "scope {scope}: {err:#} (its access token stays valid until it expires at {}, its \
                 refresh token until you revoke this app's consent in your Globus account)",
                tokens.expires_at
            ));
        }
    }
    if failures.is_empty() {
        println!("Successfully logged out!");
        return Ok(());
    }
    let message = format!(
        "removed the tokens from {}, but could not revoke them at the auth server: {}",
        path.display(),
        failures.join("; ")
    );
    Err(if unreachable {
        Failure::Unreachable(message).into()
    } else {
        anyhow::anyhow!(message)
    })
}
