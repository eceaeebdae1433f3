//! Tokens and server mappings in the config file, each change made under the file's lock.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::file::LockedConfig;
use crate::config::{ServerAddr, TokenSet};
use crate::scope::ScopeId;

/// Stores `tokens` for `scope` (when given) and maps each of `servers` to `scope`.
/// Returns the token set it replaced, which the caller should revoke.
pub(crate) async fn store(
    path: &Path,
    scope: &ScopeId,
    tokens: Option<TokenSet>,
    servers: &[ServerAddr],
) -> anyhow::Result<Option<TokenSet>> {
    let mut locked = LockedConfig::acquire(path).await?;
    let replaced = tokens.and_then(|t| locked.config.tokens.insert(scope.clone(), t));
    for server in servers {
        locked.config.servers.insert(server.clone(), scope.clone());
    }
    locked.save()?;
    Ok(replaced)
}

/// Removes the tokens of `scope`, or of every scope, and returns what it removed.
/// The server map stays: it describes the servers, not the login.
pub(crate) async fn remove(
    path: &Path,
    scope: Option<&ScopeId>,
) -> anyhow::Result<BTreeMap<ScopeId, TokenSet>> {
    let mut locked = LockedConfig::acquire(path).await?;
    let removed = match scope {
        Some(scope) => locked
            .config
            .tokens
            .remove_entry(scope)
            .into_iter()
            .collect(),
        None => std::mem::take(&mut locked.config.tokens),
    };
    if !removed.is_empty() {
        locked.save()?;
    }
    Ok(removed)
}
