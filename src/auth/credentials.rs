//! What the client sends to a control server: the scope chosen for its address and a fresh
//! access token for that scope.

use std::path::Path;

use anyhow::Context;
use chrono::{TimeDelta, Utc};

use super::{AuthSettings, NativeClient, ScopeId};
use crate::config::file::{self, LockedConfig};
use crate::config::{Config, ServerAddr, TokenSet};
use crate::secret::Secret;

/// A token this close to expiry is refreshed first, so it cannot expire in flight.
const REFRESH_MARGIN: TimeDelta = TimeDelta::seconds(60);

/// The credentials for one control server.
#[derive(Debug)]
pub struct Credentials {
    /// `--scope` if given, else the scope the server map gives the address; `None` if unmapped.
    pub scope: Option<ScopeId>,
    /// The access token for `scope`; `None` when not logged in to it (or not mapped).
    pub access_token: Option<Secret>,
    /// Something the user must hear about (unmapped address, not logged in, refresh failed),
    /// ready to print on stderr.
    pub warning: Option<String>,
}

/// Picks the scope for `s2cs` (`host:port`): `explicit_scope` wins, then the server map by
/// `host:port`, then by `host`. Refreshes an expired access token with the refresh token and
/// saves the new one (under the config lock) before returning it.
///
/// Not logged in at all and no `--scope`: no token and no warning. Errors only when the config
/// file cannot be read or parsed.
pub async fn credentials_for(
    config_path: &Path,
    s2cs: &str,
    explicit_scope: Option<&ScopeId>,
) -> anyhow::Result<Credentials> {
    let config = file::load(config_path)?;
    let Some(scope) = explicit_scope.or_else(|| config.scope_for(s2cs)).cloned() else {
        // Without any login there is nothing the mapping could have sent: stay quiet.
        let warning = (!config.tokens.is_empty()).then(|| unmapped_hint(&config, s2cs));
        return Ok(Credentials {
            scope: None,
            access_token: None,
            warning,
        });
    };
    let (access_token, warning) = match config.tokens.get(&scope) {
        None => (
            None,
            Some(format!(
                "not logged in to scope {scope}, which {s2cs} uses; run: scistream login --scope {scope}"
            )),
        ),
        Some(tokens) if !expires_soon(tokens) => (Some(tokens.access_token.clone()), None),
        Some(_) => match refresh(config_path, &scope).await {
            Ok(token) => (Some(token), None),
            Err(err) => (
                None,
                Some(format!(
                    "the access token for scope {scope} expired and could not be refreshed: \
                     {err:#}; run: scistream login --scope {scope} --force"
                )),
            ),
        },
    };
    Ok(Credentials {
        scope: Some(scope),
        access_token,
        warning,
    })
}

fn expires_soon(tokens: &TokenSet) -> bool {
    tokens.is_expired(Utc::now() + REFRESH_MARGIN)
}

/// Names the address that has no scope and the command that maps it.
pub fn unmapped_hint(config: &Config, s2cs: &str) -> String {
    let host =
        ServerAddr::parse(s2cs).map_or_else(|_| s2cs.to_owned(), |a| a.host_only().to_string());
    // With one scope logged in, the fix is almost certainly that scope.
    let scope = match config.tokens.keys().collect::<Vec<_>>().as_slice() {
        [only] => only.to_string(),
        _ => "<SCOPE>".to_owned(),
    };
    format!(
        "no scope is mapped for {host}; add it with scistream login --scope {scope} --map {host}"
    )
}

/// Refreshes under the lock, re-reading first: another process may have refreshed (or logged
/// out) while this one waited.
async fn refresh(config_path: &Path, scope: &ScopeId) -> anyhow::Result<Secret> {
    let mut locked = LockedConfig::acquire(config_path).await?;
    let current = locked
        .config
        .tokens
        .get(scope)
        .cloned()
        .context("the token was removed by a logout meanwhile")?;
    if !expires_soon(&current) {
        return Ok(current.access_token);
    }
    let settings = AuthSettings::load(&locked.config)?;
    let fresh = NativeClient::new(&settings)?
        .refresh(scope, &current)
        .await?;
    let token = fresh.access_token.clone();
    locked.config.tokens.insert(scope.clone(), fresh);
    locked.save()?;
    Ok(token)
}
