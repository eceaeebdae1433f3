//! Where the auth server is and who this client is: defaults, the file, then the environment.

use crate::config::{pick_base_url, Config};

pub(crate) const DEFAULT_AUTH_URL: &str = "https://auth.globus.org";
pub(crate) const DEFAULT_NATIVE_CLIENT_ID: &str = "4787c84e-9c55-4881-b941-cb6720cea11c";
/// Overrides `auth_url` from the file; this is how tests point the binary at a local server.
pub(crate) const AUTH_URL_ENV: &str = "SCISTREAM_AUTH_URL";

/// The auth server's endpoints and this native app's client id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    base: String,
    native_client_id: String,
}

impl AuthSettings {
    /// Settings for `config`, with `SCISTREAM_AUTH_URL` taken from the environment.
    pub(crate) fn load(config: &Config) -> anyhow::Result<Self> {
        Self::resolve(config, std::env::var(AUTH_URL_ENV).ok())
    }

    /// The one precedence rule: environment over file over default.
    pub fn resolve(config: &Config, env_auth_url: Option<String>) -> anyhow::Result<Self> {
        let base = pick_base_url(
            (env_auth_url, AUTH_URL_ENV),
            (config.auth_url.as_ref(), "auth_url"),
            DEFAULT_AUTH_URL,
        )?;
        Ok(Self {
            base,
            native_client_id: config
                .native_client_id
                .clone()
                .unwrap_or_else(|| DEFAULT_NATIVE_CLIENT_ID.to_owned()),
        })
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base
    }

    pub(crate) fn native_client_id(&self) -> &str {
        &self.native_client_id
    }

    pub(crate) fn authorize_url(&self) -> String {
        format!("{}/v2/oauth2/authorize", self.base)
    }

    /// Globus shows the code on this page for the user to copy; nothing listens locally.
    pub(crate) fn redirect_url(&self) -> String {
        format!("{}/v2/web/auth-code", self.base)
    }

    pub(crate) fn token_url(&self) -> String {
        format!("{}/v2/oauth2/token", self.base)
    }

    pub(crate) fn revoke_url(&self) -> String {
        format!("{}/v2/oauth2/token/revoke", self.base)
    }

    pub(crate) fn introspect_url(&self) -> String {
        format!("{}/v2/oauth2/token/introspect", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_wins_over_file_over_default() {
        let mut config = Config::default();
        let url = |c: &Config, env: Option<&str>| {
            AuthSettings::resolve(c, env.map(String::from))
                .unwrap()
                .base_url()
                .to_owned()
        };
        assert_eq!(url(&config, None), DEFAULT_AUTH_URL);
        config.auth_url = Some("https://file.example/".into());
        assert_eq!(url(&config, None), "https://file.example");
        assert_eq!(
            url(&config, Some("http://127.0.0.1:9")),
            "http://127.0.0.1:9"
        );
        assert_eq!(url(&config, Some("")), "https://file.example");
    }

    #[test]
    fn endpoints_are_globus_paths() {
        let s = AuthSettings::resolve(&Config::default(), None).unwrap();
        assert_eq!(s.token_url(), "https://auth.globus.org/v2/oauth2/token");
        assert_eq!(
            s.revoke_url(),
            "https://auth.globus.org/v2/oauth2/token/revoke"
        );
        assert_eq!(s.redirect_url(), "https://auth.globus.org/v2/web/auth-code");
        assert_eq!(s.native_client_id(), DEFAULT_NATIVE_CLIENT_ID);
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let resolve = |url: &str| AuthSettings::resolve(&Config::default(), Some(url.into()));
        assert!(resolve("http://127.0.0.1:8080").is_ok());
        assert!(resolve("http://localhost:8080").is_ok());
        assert!(resolve("http://[::1]:8080").is_ok());
        let err = resolve("http://auth.example.org").unwrap_err().to_string();
        assert!(err.contains("must use https://"), "{err}");
        assert!(resolve("not a url").is_err());
    }
}
