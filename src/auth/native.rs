//! The native (public) app side of Globus Auth: authorization code + PKCE login, refresh
//! and revocation. No client secret exists here; the PKCE verifier stands in for one.

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};

use super::{AuthRequirements, AuthSettings};
use crate::config::TokenSet;
use crate::exit::Failure;
use crate::scope::ScopeId;
use crate::secret::Secret;

type OAuthClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The OAuth2 client of the `scistream` command line.
pub(crate) struct NativeClient {
    oauth: OAuthClient,
    http: reqwest::Client,
    settings: AuthSettings,
}

/// A login waiting for the user to bring back the code from the browser.
pub(crate) struct PendingLogin {
    /// The URL the user opens.
    pub(crate) authorize_url: String,
    scope: ScopeId,
    verifier: PkceCodeVerifier,
}

impl NativeClient {
    pub(crate) fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let oauth = BasicClient::new(ClientId::new(settings.native_client_id().to_owned()))
            .set_auth_uri(AuthUrl::new(settings.authorize_url()).context("invalid auth URL")?)
            .set_token_uri(TokenUrl::new(settings.token_url()).context("invalid auth URL")?)
            .set_redirect_uri(
                RedirectUrl::new(settings.redirect_url()).context("invalid auth URL")?,
            );
        Ok(Self {
            oauth,
            http: super::http_client()?,
            settings: settings.clone(),
        })
    }

    /// Builds the authorize URL with a fresh PKCE (S256) verifier and a random `state`, asking
    /// Globus for a login that meets `requirements` (what a gateway's refusal named).
    pub(crate) fn start_login(
        &self,
        scope: &ScopeId,
        requirements: &AuthRequirements,
    ) -> PendingLogin {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .oauth
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new(scope.scistream_scope()))
            .set_pkce_challenge(challenge)
            // Without offline access Globus issues no refresh token.
            .add_extra_param("access_type", "offline")
            // A fresh authentication, so that requirements such as MFA are met now.
            .add_extra_param("prompt", "login");
        for (name, value) in requirements.authorize_params() {
            request = request.add_extra_param(name, value);
        }
        let (url, _state) = request.url();
        PendingLogin {
            authorize_url: url.into(),
            scope: scope.clone(),
            verifier,
        }
    }

    /// Trades the code the user pasted for tokens.
    pub(crate) async fn exchange_code(
        &self,
        pending: PendingLogin,
        code: &str,
    ) -> anyhow::Result<TokenSet> {
        let response = self
            .oauth
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(pending.verifier)
            .request_async(&self.http)
            .await
            .map_err(|err| self.describe(err, "exchange the authorization code"))?;
        token_set(&response, None, &pending.scope)
    }

    /// A new access token from the refresh token; the refresh token is kept unless rotated.
    pub(crate) async fn refresh(
        &self,
        scope: &ScopeId,
        tokens: &TokenSet,
    ) -> anyhow::Result<TokenSet> {
        let refresh = tokens.refresh_token.as_ref().with_context(|| {
            format!("no refresh token is stored for scope {scope}; run: scistream login --scope {scope} --force")
        })?;
        let refresh_token = RefreshToken::new(refresh.expose().to_owned());
        let response = self
            .oauth
            .exchange_refresh_token(&refresh_token)
            .request_async(&self.http)
            .await
            .map_err(|err| self.describe(err, "refresh the access token"))?;
        token_set(&response, Some(refresh), scope)
    }

    /// Revokes the access and the refresh token (RFC 7009).
    pub(crate) async fn revoke(&self, tokens: &TokenSet) -> anyhow::Result<()> {
        self.revoke_one(&tokens.access_token, "access_token")
            .await?;
        if let Some(refresh) = &tokens.refresh_token {
            self.revoke_one(refresh, "refresh_token").await?;
        }
        Ok(())
    }

    // Not through the oauth2 crate: it refuses any revocation URL but https, and the tests'
    // auth server is plain http on loopback.
    async fn revoke_one(&self, token: &Secret, hint: &str) -> anyhow::Result<()> {
        let url = self.settings.revoke_url();
        let form = [
            ("token", token.expose()),
            ("token_type_hint", hint),
            ("client_id", self.settings.native_client_id()),
        ];
        let response = self
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|err| unreachable(&url, err.into()))?;
        let status = response.status();
        anyhow::ensure!(
            status.is_success(),
            "the auth server at {url} refused to revoke the {}: HTTP {status}",
            hint.replace('_', " ")
        );
        Ok(())
    }

    fn describe<RE, T>(&self, err: RequestTokenError<RE, T>, what: &str) -> anyhow::Error
    where
        RE: std::error::Error + Send + Sync + 'static,
        T: oauth2::ErrorResponse + Send + Sync + 'static,
    {
        let url = self.settings.token_url();
        match err {
            RequestTokenError::Request(err) => unreachable(&url, err.into()),
            RequestTokenError::ServerResponse(response) => {
                anyhow::anyhow!("the auth server at {url} refused to {what}: {response}")
            }
            RequestTokenError::Parse(err, _) => {
                anyhow::anyhow!(
                    "could not {what}: the answer of {url} is not a token response: {err}"
                )
            }
            RequestTokenError::Other(msg) => anyhow::anyhow!("could not {what} at {url}: {msg}"),
        }
    }
}

fn unreachable(url: &str, err: anyhow::Error) -> anyhow::Error {
    Failure::Unreachable(format!(
        "could not reach the auth server at {url}: {err:#}; check the network, or the auth_url \
         in the config file and SCISTREAM_AUTH_URL"
    ))
    .into()
}

fn token_set(
    response: &impl TokenResponse,
    previous_refresh: Option<&Secret>,
    scope: &ScopeId,
) -> anyhow::Result<TokenSet> {
    let lifetime = response
        .expires_in()
        .context("the auth server did not say when the access token expires")?;
    let granted = response.scopes().map(|scopes| {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    });
    Ok(TokenSet {
        access_token: Secret::new(response.access_token().secret()),
        refresh_token: response
            .refresh_token()
            .map(|t| Secret::new(t.secret()))
            .or_else(|| previous_refresh.cloned()),
        expires_at: expires_at(lifetime),
        scope: granted.unwrap_or_else(|| scope.scistream_scope()),
    })
}

/// Whole seconds, so the file shows a plain RFC 3339 time.
fn expires_at(lifetime: Duration) -> chrono::DateTime<Utc> {
    let secs = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2);
    let now = Utc::now().timestamp();
    chrono::DateTime::from_timestamp(now.saturating_add(secs), 0)
        .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC)
}
