//! Globus Auth (OAuth2) for SciStream.
//!
//! Client side (the `scistream` command line, a native app):
//! - [`NativeClient`]: login with authorization code + PKCE, refresh, revocation;
//! - [`token_store`]: tokens and the server-to-scope map in the config file;
//! - [`credentials_for`]: the scope and a fresh access token for one control server — what
//!   `scistream req` sends as `authorization` metadata.
//!
//! Server side (`scistream server`, a resource server):
//! - [`Introspector`]: checks each call's token by RFC 7662 introspection (cached briefly,
//!   with a cap on introspections under way) and names its [`Identity`], the owner of the
//!   sessions it opens, with what the access policy needs ([`Authenticated`]); it also makes
//!   the dependent token grant for the policy's group lookups;
//! - [`AuthError`]: the refusals (the server maps them to gRPC statuses).
//!
//! Both: [`AuthRequirements`], what a refused login must satisfy, from the gateway's refusal
//! to the client's `scistream login` command and its authorize URL.

use std::time::Duration;

mod credentials;
mod introspect;
mod native;
mod requirements;
mod settings;
pub(crate) mod token_store;

pub(crate) use credentials::unmapped_hint;
pub use credentials::{credentials_for, Credentials};
pub use introspect::{
    AuthError, Authenticated, Identity, IntrospectionDetails, IntrospectionLimits, Introspector,
};
pub(crate) use introspect::{SingleFlight, DEFAULT_CACHE_TTL};
pub(crate) use native::NativeClient;
pub use requirements::{check_entry, AuthRequirements, AUTH_REQUIREMENTS_METADATA_KEY};
pub use settings::AuthSettings;

/// Idle connections kept per host. Open ones are bounded by the calls made at once (one each
/// over HTTP/1.1; one connection in all over HTTP/2, which TLS negotiates where the server
/// speaks it), which their callers cap.
const IDLE_CONNECTIONS_PER_HOST: usize = 8;

/// The HTTP client for every auth server (and Groups API) call. Redirects are not followed:
/// credentials must go to the configured server only.
pub(crate) fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(IDLE_CONNECTIONS_PER_HOST)
        .build()
        .map_err(|err| anyhow::anyhow!("could not set up the HTTPS client: {err}"))
}
