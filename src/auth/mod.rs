//! Globus Auth (OAuth2) for SciStream.
//!
//! Client side (the `scistream` command line, a native app):
//! - [`NativeClient`]: login with authorization code + PKCE, refresh, revocation;
//! - [`token_store`]: tokens and the server-to-scope map in the config file;
//! - [`credentials_for`]: the scope and a fresh access token for one control server — what
//!   `scistream req` sends as `authorization` metadata.
//!
//! Server side (`scistream server`, a resource server):
//! - [`Introspector`]: checks each call's token by RFC 7662 introspection (cached briefly)
//!   and names its [`Identity`], the owner of the sessions it opens;
//! - [`AuthError`]: the refusals (the server maps them to gRPC statuses).

use std::time::Duration;

mod credentials;
mod introspect;
mod native;
mod settings;
pub(crate) mod token_store;

pub(crate) use credentials::unmapped_hint;
pub use credentials::{credentials_for, Credentials};
pub(crate) use introspect::DEFAULT_CACHE_TTL;
pub use introspect::{AuthError, Identity, Introspector};
pub(crate) use native::NativeClient;
pub use settings::AuthSettings;

/// The HTTP client for every auth server call. Redirects are not followed: credentials must
/// go to the configured server only.
fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|err| anyhow::anyhow!("could not set up the HTTPS client: {err}"))
}
