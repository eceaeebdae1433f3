//! `scistream login`: obtain tokens for a scope (authorization code + PKCE) and store them.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use chrono::Utc;
use clap::Args;

use crate::auth::{check_entry, token_store, AuthRequirements, AuthSettings, NativeClient};
use crate::config::{file, ServerAddr};
use crate::paths;
use crate::scope::{ScopeId, DEFAULT_SCOPE};

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Scope to log in to: the client id of the control servers you will use
    #[arg(long, value_name = "UUID", default_value = DEFAULT_SCOPE)]
    pub(crate) scope: ScopeId,
    /// Log in again even if a valid token for the scope is stored
    #[arg(long)]
    pub(crate) force: bool,
    /// Record that this server address uses the scope (repeatable); works when already logged in
    #[arg(long = "map", value_name = "HOST[:PORT]")]
    pub(crate) map: Vec<ServerAddr>,

    /// Log in with an identity from this domain, as a gateway's refusal asks (repeatable:
    /// one of them); implies a new login, like --force
    #[arg(long, value_name = "DOMAIN", value_parser = parse_entry, help_heading = "What a gateway's refusal asks for")]
    pub(crate) required_domain: Vec<String>,
    /// Log in with this identity (its id); repeatable; implies a new login
    #[arg(long, value_name = "ID", value_parser = parse_entry, help_heading = "What a gateway's refusal asks for")]
    pub(crate) required_identity: Vec<String>,
    /// Log in so as to meet this Globus authentication policy (high assurance, MFA...);
    /// repeatable; implies a new login
    #[arg(long, value_name = "ID", value_parser = parse_entry, help_heading = "What a gateway's refusal asks for")]
    pub(crate) required_policy: Vec<String>,
    /// Log in with multi-factor authentication; implies a new login
    #[arg(long, help_heading = "What a gateway's refusal asks for")]
    pub(crate) required_mfa: bool,
}

fn parse_entry(s: &str) -> Result<String, String> {
    check_entry(s.trim())?;
    Ok(s.trim().to_owned())
}

impl LoginArgs {
    /// What the new login must meet, from the --required-* flags.
    fn requirements(&self) -> AuthRequirements {
        AuthRequirements {
            session_message: None,
            session_required_identities: self.required_identity.clone(),
            session_required_single_domain: self.required_domain.clone(),
            session_required_policies: self.required_policy.clone(),
            session_required_mfa: self.required_mfa,
        }
    }
}

const LINK_PROMPT: &str = "Please authenticate with Globus here";

pub(crate) async fn run(global: &super::GlobalArgs, args: LoginArgs) -> anyhow::Result<()> {
    let path = paths::config_file(global.config.as_deref());
    let config = file::load(&path)?;
    let logged_in = config
        .tokens
        .get(&args.scope)
        .is_some_and(|tokens| !tokens.is_expired(Utc::now()));
    let requirements = args.requirements();
    if logged_in && !args.force && requirements.is_empty() {
        token_store::store(&path, &args.scope, None, &args.map).await?;
        print_mapped(&args);
        println!("You are already logged in, to try different credentials please log out!");
        return Ok(());
    }

    let client = NativeClient::new(&AuthSettings::load(&config)?)?;
    let pending = client.start_login(&args.scope, &requirements);
    let dashes = "-".repeat(LINK_PROMPT.len());
    println!("To obtain token for the scope, please open the URL in your browser and follow the instructions");
    println!(
        "{LINK_PROMPT}:\n{dashes}\n{}\n{dashes}\n",
        pending.authorize_url
    );
    print!("Enter the resulting Authorization Code here: ");
    std::io::stdout().flush()?;
    let code = tokio::task::spawn_blocking(read_code).await??;
    // The code is not echoed (hidden, or piped), so the line still ends at the prompt.
    println!();

    let tokens = client
        .exchange_code(pending, &code)
        .await
        .with_context(|| format!("could not log in to scope {}", args.scope))?;
    let replaced = token_store::store(&path, &args.scope, Some(tokens), &args.map).await?;
    println!(
        "Logged in to scope {}; tokens saved in {}",
        args.scope,
        path.display()
    );
    print_mapped(&args);
    // A forced login supersedes the old tokens; left alone, the refresh token would stay valid.
    if let Some(old) = replaced {
        if let Err(err) = client.revoke(&old).await {
            eprintln!("warning: could not revoke the replaced tokens: {err:#}");
        }
    }
    Ok(())
}

fn print_mapped(args: &LoginArgs) {
    for server in &args.map {
        println!("Server {server} now uses scope {}", args.scope);
    }
}

/// Hidden input on a terminal; one plain line otherwise, so scripts and tests can pipe it.
fn read_code() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let line = if stdin.is_terminal() {
        rpassword::read_password().context("could not read the authorization code")?
    } else {
        let mut line = String::new();
        let read = stdin
            .lock()
            .read_line(&mut line)
            .context("could not read the authorization code")?;
        anyhow::ensure!(
            read > 0,
            "standard input closed before an authorization code was entered; run scistream login \
             again and paste the code the browser shows"
        );
        line
    };
    let code = line.trim();
    anyhow::ensure!(
        !code.is_empty(),
        "no authorization code was entered; run scistream login again and paste the code the \
         browser shows"
    );
    Ok(code.to_owned())
}
