//! `scistream check-auth`: show the stored access tokens (printing them is the point).

use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;

use crate::auth::unmapped_hint;
use crate::config::ServerAddr;
use crate::config::{file, Config};
use crate::exit::Failure;
use crate::paths;
use crate::scope::{ScopeId, DEFAULT_SCOPE};

#[derive(Debug, Args)]
pub struct CheckAuthArgs {
    /// Only this scope [default: every stored scope]
    #[arg(long, value_name = "UUID", conflicts_with = "s2cs")]
    pub(crate) scope: Option<ScopeId>,
    /// Only the scope the server map gives this control server
    #[arg(long, value_parser = ServerAddr::parse, value_name = "HOST[:PORT]")]
    pub(crate) s2cs: Option<ServerAddr>,
    /// Print a JSON array of {scope, access_token, expires_at, expired}
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Serialize)]
struct Entry<'a> {
    scope: &'a ScopeId,
    access_token: &'a str,
    expires_at: DateTime<Utc>,
    expired: bool,
}

pub(crate) async fn run(global: &super::GlobalArgs, args: CheckAuthArgs) -> anyhow::Result<()> {
    let path = paths::config_file(global.config.as_deref());
    let config = file::load(&path)?;
    let scopes = selected_scopes(&config, &args)?;
    let now = Utc::now();
    let mut entries = Vec::new();
    let mut missing = Vec::new();
    for scope in &scopes {
        match config.tokens.get(scope) {
            Some(tokens) => entries.push(Entry {
                scope,
                access_token: tokens.access_token.expose(),
                expires_at: tokens.expires_at,
                expired: tokens.is_expired(now),
            }),
            None => missing.push(scope),
        }
    }
    print_entries(&entries, args.json)?;

    let mut problems: Vec<String> = Vec::new();
    if scopes.is_empty() {
        problems.push(format!(
            "not logged in to any scope; run: scistream login --scope {DEFAULT_SCOPE} \
             (or the scope your control server uses)"
        ));
    }
    problems.extend(missing.iter().map(|scope| {
        format!("not logged in to scope {scope}; run: scistream login --scope {scope}")
    }));
    problems.extend(entries.iter().filter(|e| e.expired).map(|e| {
        format!(
            "the access token for scope {} expired at {}; renew it with: scistream login --scope {} --force",
            e.scope, e.expires_at, e.scope
        )
    }));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::AuthRequired(problems.join("\n")).into())
    }
}

fn selected_scopes(config: &Config, args: &CheckAuthArgs) -> anyhow::Result<Vec<ScopeId>> {
    if let Some(scope) = &args.scope {
        return Ok(vec![scope.clone()]);
    }
    if let Some(s2cs) = &args.s2cs {
        let scope = config
            .scope_for(s2cs)
            .ok_or_else(|| Failure::AuthRequired(unmapped_hint(config, s2cs)))?;
        return Ok(vec![scope.clone()]);
    }
    Ok(config.tokens.keys().cloned().collect())
}

fn print_entries(entries: &[Entry<'_>], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(entries)?);
        return Ok(());
    }
    for entry in entries {
        println!(
            "Access Token for scope '{}': {}",
            entry.scope, entry.access_token
        );
    }
    Ok(())
}
