//! What the client sends to a control server: the scope chosen for its address and a fresh
//! access token for that scope.

use std::path::Path;

use anyhow::Context;
use chrono::{TimeDelta, Utc};

use super::{AuthRequirements, AuthSettings, NativeClient};
use crate::config::file::{self, LockedConfig};
use crate::config::{Config, ServerAddr, TokenSet};
use crate::scope::ScopeId;
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

/// What the session header shows for no token: the Python client's placeholder.
const NO_TOKEN: &str = "INVALID_TOKEN";

impl Credentials {
    /// The token as the session header shows it: [`NO_TOKEN`], the whole token when `show`,
    /// else enough of it to tell tokens apart.
    pub(crate) fn shown_token(&self, show: bool) -> String {
        match &self.access_token {
            None => NO_TOKEN.to_owned(),
            Some(token) if show => token.expose().to_owned(),
            Some(token) => format!("{}…", token.expose().chars().take(8).collect::<String>()),
        }
    }

    /// What to tell the user when `s2cs` refused the call as unauthenticated: the server's
    /// message and the login command that fixes it, for the scope the server said it expects
    /// (`wanted`, from the status metadata; a Python server sends none: then a placeholder).
    pub(crate) fn refusal(
        &self,
        s2cs: &ServerAddr,
        server_message: &str,
        wanted: Option<ScopeId>,
    ) -> String {
        let host = s2cs.host_only();
        let fix = match (wanted, &self.scope) {
            // The right scope was sent: its token is stale (revoked, or replaced elsewhere).
            (Some(wanted), Some(sent)) if wanted == *sent => {
                format!("scistream login --scope {wanted} --force")
            }
            (Some(wanted), _) => format!("scistream login --scope {wanted} --map {host}"),
            (None, _) => format!("scistream login --scope <SCOPE> --map {host}"),
        };
        format!("Please obtain new credentials: {server_message}\nrun: {fix}")
    }

    /// What to tell the user when a gateway's access policy refused the call but a new login
    /// that meets `asked` can pass: the server's message and the login command that asks for
    /// exactly that, for the scope the server named (`wanted`), else the one sent.
    pub(crate) fn login_again(
        &self,
        server_message: &str,
        wanted: Option<ScopeId>,
        asked: &AuthRequirements,
    ) -> String {
        let scope = wanted.or_else(|| self.scope.clone());
        let scope = scope.map_or_else(|| "<SCOPE>".to_owned(), |s| s.to_string());
        format!(
            "the gateway's access policy refused the call: {server_message}\nrun: scistream \
             login --scope {scope} --force{}",
            asked.login_flags()
        )
    }
}

/// Picks the scope for `s2cs` (`host:port`, or `host`): `explicit_scope` wins, then the server map by
/// `host:port`, then by `host`. Refreshes an expired access token with the refresh token and
/// saves the new one (under the config lock) before returning it.
///
/// Not logged in at all and no `--scope`: no token and no warning. Errors only when the config
/// file cannot be read or parsed.
pub async fn credentials_for(
    config_path: &Path,
    s2cs: &ServerAddr,
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
pub(crate) fn unmapped_hint(config: &Config, s2cs: &ServerAddr) -> String {
    let host = s2cs.host_only();
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

#[cfg(test)]
mod tests {
    use super::*;

    const OTHER: &str = "5b5f6e43-6a8e-4d5e-9d6a-2a7f0b1c9e11";

    fn credentials(scope: Option<&str>, token: Option<&str>) -> Credentials {
        Credentials {
            scope: scope.map(|s| s.parse().unwrap()),
            access_token: token.map(Secret::new),
            warning: None,
        }
    }

    #[test]
    fn the_header_shows_a_prefix_unless_asked_for_the_whole_token() {
        let with = credentials(None, Some("AgV1234567890xyz"));
        assert_eq!(with.shown_token(false), "AgV12345…");
        assert_eq!(with.shown_token(true), "AgV1234567890xyz");
        assert_eq!(credentials(None, None).shown_token(true), NO_TOKEN);
    }

    fn gw() -> ServerAddr {
        ServerAddr::parse("gw:5000").unwrap()
    }

    #[test]
    fn a_refusal_names_the_login_that_fixes_it() {
        let message = format!("Authentication token is invalid for scope {OTHER}");
        let fix = |c: Credentials| {
            c.refusal(&gw(), &message, OTHER.parse().ok())
                .lines()
                .last()
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            fix(credentials(Some(OTHER), Some("t"))),
            format!("run: scistream login --scope {OTHER} --force")
        );
        let default = crate::scope::DEFAULT_SCOPE;
        assert_eq!(
            fix(credentials(Some(default), Some("t"))),
            format!("run: scistream login --scope {OTHER} --map gw")
        );
        assert_eq!(
            fix(credentials(None, None)),
            format!("run: scistream login --scope {OTHER} --map gw")
        );
        let first = credentials(None, None).refusal(&gw(), &message, None);
        assert!(first.starts_with(&format!("Please obtain new credentials: {message}\n")));
    }

    #[test]
    fn a_policy_refusal_names_the_login_that_meets_it() {
        let asked = AuthRequirements {
            session_required_policies: vec!["9d0a1e6b-0000-4000-8000-0000000000a1".into()],
            ..AuthRequirements::default()
        };
        let said = credentials(Some(OTHER), Some("t")).login_again("no", None, &asked);
        assert_eq!(
            said.lines().last().unwrap(),
            format!(
                "run: scistream login --scope {OTHER} --force --required-policy \
                 9d0a1e6b-0000-4000-8000-0000000000a1"
            )
        );
    }

    #[test]
    fn the_hint_names_the_wanted_scope_not_the_one_in_the_message() {
        let message = format!("Authentication token is invalid for scope {OTHER}");
        let hint = |wanted: Option<&str>| {
            let c = credentials(Some(OTHER), Some("t"));
            let refusal = c.refusal(&gw(), &message, wanted.map(|w| w.parse().unwrap()));
            refusal.lines().last().unwrap().to_owned()
        };
        // A Python server names the scope in its message only: the hint has a placeholder.
        assert_eq!(hint(None), "run: scistream login --scope <SCOPE> --map gw");
        let default = crate::scope::DEFAULT_SCOPE;
        assert_eq!(
            hint(Some(default)),
            format!("run: scistream login --scope {default} --map gw")
        );
    }
}
