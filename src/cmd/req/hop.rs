//! The flags that choose how a session's gateway-to-gateway hop is set up, as the client
//! library's [`HopPolicy`].

use clap::Args;

use crate::client::setup::HopPolicy;

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

/// For the commands that give a CONS session its hop: whether it may turn an encrypted PROD
/// session plaintext.
#[derive(Debug, Args)]
pub(super) struct FallbackArgs {
    /// When the CONS gateway lacks the encrypted hop, turn the encrypted PROD session's hop
    /// plaintext (with a warning) instead of failing: anyone who reaches the PROD listeners then
    /// reads the stream. Only on a network you trust
    #[arg(long, conflicts_with_all = ["plaintext_hop", "require_encryption"])]
    allow_plaintext_fallback: bool,
}

impl HopArgs {
    /// The policy these flags (and, for a CONS session, `fallback`'s) choose.
    pub(super) fn policy(&self, fallback: Option<&FallbackArgs>) -> HopPolicy {
        let fallback = fallback.is_some_and(|f| f.allow_plaintext_fallback);
        match (self.plaintext_hop, self.require_encryption, fallback) {
            (true, _, _) => HopPolicy::Plaintext,
            (_, true, _) => HopPolicy::Required,
            (_, _, true) => HopPolicy::FallBack,
            _ => HopPolicy::Encrypted,
        }
    }
}

/// This command line as the user could type it again (arguments with spaces or shell
/// characters in single quotes), for messages that say how to run it with another flag.
pub(super) fn this_command() -> String {
    let words = std::env::args_os().map(|arg| {
        let arg = arg.to_string_lossy().into_owned();
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:,=@[]+%".contains(c));
        match plain {
            true => arg,
            false => format!("'{}'", arg.replace('\'', r"'\''")),
        }
    });
    words.collect::<Vec<_>>().join(" ")
}
