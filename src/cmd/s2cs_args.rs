//! The flags that name one control server and say how to reach it, shared by every command that
//! talks to one.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use super::values::parse_seconds;
use super::GlobalArgs;
use crate::address::HostPort;
use crate::auth::{self, Credentials};
use crate::client::{Client, Deadlines, Gateway};
use crate::config::ServerAddr;
use crate::scope::ScopeId;
use crate::{paths, tls};

/// How to reach the control server.
#[derive(Debug, Args)]
pub(crate) struct S2csArgs {
    /// Control server (S2CS) address
    #[arg(long, default_value = "localhost:5000", value_parser = HostPort::parse, value_name = "HOST:PORT")]
    pub(crate) s2cs: HostPort,
    /// Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]
    #[arg(long, alias = "server_cert", value_name = "PEM")]
    pub(crate) server_cert: Option<PathBuf>,
    /// Talk plaintext gRPC to a server started with --no-tls
    #[arg(long, conflicts_with = "server_cert")]
    pub(crate) no_tls: bool,
    /// Scope whose token to send [default: the one the config file maps this server to]
    #[arg(long, value_name = "UUID")]
    pub(crate) scope: Option<ScopeId>,
    /// Seconds to wait for the server: to connect, and for each call [default: 10 to connect,
    /// 210 for a req (the server's default hello timeout, 180, plus a margin), 30 for the others]
    #[arg(long, value_parser = parse_seconds, value_name = "SECS")]
    pub(crate) timeout: Option<Duration>,
}

impl S2csArgs {
    /// Connects with the token of the scope chosen for this server (refreshed if it expired).
    pub(crate) async fn connect(&self, global: &GlobalArgs) -> Result<Gateway> {
        let credentials = self.credentials(global).await?;
        let client = self.dial(global, &credentials).await?;
        Ok(Gateway::new(client, &self.s2cs, credentials))
    }

    /// The token for this server, after printing any warning about it.
    pub(crate) async fn credentials(&self, global: &GlobalArgs) -> Result<Credentials> {
        let config = paths::config_file(global.config.as_deref());
        let server = ServerAddr::from(&self.s2cs);
        let credentials = auth::credentials_for(&config, &server, self.scope.as_ref()).await?;
        if let Some(warning) = &credentials.warning {
            eprintln!("warning: {warning}");
        }
        Ok(credentials)
    }

    /// Opens the channel (TCP, and TLS unless --no-tls) whose calls carry `credentials`' token.
    pub(crate) async fn dial(
        &self,
        global: &GlobalArgs,
        credentials: &Credentials,
    ) -> Result<Client> {
        let tls = match self.no_tls {
            true => None,
            false => Some(tls::client_config(
                self.server_cert.as_deref(),
                &paths::config_dir(global.config.as_deref()),
            )?),
        };
        let deadlines = self.timeout.map_or_else(Deadlines::default, Deadlines::all);
        let token = credentials.access_token.clone();
        Client::connect_with(&self.s2cs, tls, token, deadlines).await
    }
}
