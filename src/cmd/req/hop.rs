//! The gateway-to-gateway hop of a session, as the user client negotiates it: the PROD gateway
//! hands out the session's hop credential, the CONS gateway gets it with its targets. A gateway
//! without the hop calls (a SciStream 1.2 server) leaves the hop plaintext, with a warning.

use anyhow::Result;
use clap::Args;

use super::start::Started;
use crate::client::Gateway;
use crate::pb;

#[derive(Debug, Args)]
pub(super) struct HopArgs {
    /// Relay the gateway-to-gateway hop unencrypted and unauthenticated, as SciStream 1.2 does:
    /// anyone who reaches the PROD listeners reads the stream. Only on a network you trust
    #[arg(long, conflicts_with = "require_encryption")]
    pub(super) plaintext_hop: bool,
    /// Fail (exit 1, the session released) instead of falling back to a plaintext hop when a
    /// gateway lacks the encrypted hop
    #[arg(long)]
    require_encryption: bool,
}

/// How a session's hop ended up, as `--json` says it.
pub(super) fn describe(encrypted: bool) -> &'static str {
    match encrypted {
        true => "encrypted",
        false => "plaintext",
    }
}

/// Encrypts a PROD session's hop, unless the hop is to be plaintext. Returns the credential
/// the CONS session needs; None for a plaintext hop.
pub(super) async fn arm(
    prod: &Gateway,
    uid: &str,
    args: &HopArgs,
) -> Result<Option<pb::HopCredential>> {
    if args.plaintext_hop {
        return Ok(None);
    }
    match prod.client.hop(uid, false).await {
        Ok(credential) => Ok(Some(credential)),
        Err(status) if status.code() == tonic::Code::Unimplemented => {
            fall_back(&prod.s2cs, uid, args)?;
            Ok(None)
        }
        Err(status) => Err(prod.failed(status)),
    }
}

/// Gives a CONS session its targets, over the encrypted hop when there is a `credential`.
/// If the CONS gateway lacks the encrypted hop, the PROD session (when known) is told to relay
/// in clear too.
pub(super) async fn update_cons(
    cons: &Gateway,
    prod: Option<&Gateway>,
    uid: &str,
    targets: Vec<String>,
    credential: Option<pb::HopCredential>,
    args: &HopArgs,
) -> Result<Started> {
    let encrypted = credential.is_some();
    match cons
        .client
        .update(uid, "CONS", targets.clone(), credential.clone())
        .await
    {
        Ok(session) => {
            let hop = credential;
            return Ok(Started { session, hop });
        }
        Err(status) if encrypted && status.code() == tonic::Code::Unimplemented => {
            fall_back(&cons.s2cs, uid, args)?;
        }
        Err(status) => return Err(cons.failed(status)),
    }
    if let Some(prod) = prod {
        prod.client
            .hop(uid, true)
            .await
            .map_err(|s| prod.failed(s))?;
    }
    let session = cons.client.update(uid, "CONS", targets, None).await;
    let session = session.map_err(|s| cons.failed(s))?;
    Ok(Started { session, hop: None })
}

/// `s2cs` has no encrypted hop: a warning, or with --require-encryption, the error.
fn fall_back(s2cs: &str, uid: &str, args: &HopArgs) -> Result<()> {
    let missing = format!("s2cs {s2cs} does not offer the encrypted hop (a SciStream 1.2 server?)");
    if args.require_encryption {
        anyhow::bail!(
            "{missing}, and --require-encryption refuses a plaintext hop: upgrade that gateway, \
             or drop --require-encryption on a network you trust"
        );
    }
    eprintln!(
        "warning: {missing}: session {uid} relays the gateway-to-gateway hop in clear; \
         pass --require-encryption to refuse instead"
    );
    Ok(())
}
