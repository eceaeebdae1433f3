//! One control server as a command talks to it: connected, with the token its calls carry and
//! the advice its refusals get.

use crate::address::HostPort;
use crate::auth::Credentials;

use super::{explain_failure, Client};

pub(crate) struct Gateway {
    pub(crate) client: Client,
    /// The server's address, as the user gave it.
    pub(crate) s2cs: HostPort,
    credentials: Credentials,
}

impl Gateway {
    pub(crate) fn new(client: Client, s2cs: &HostPort, credentials: Credentials) -> Gateway {
        Gateway {
            client,
            s2cs: s2cs.clone(),
            credentials,
        }
    }

    /// The access token as the header line shows it: its first characters, or `whole`.
    pub(crate) fn shown_token(&self, whole: bool) -> String {
        self.credentials.shown_token(whole)
    }

    /// The error a refused or failed call becomes, saying what to do next.
    pub(crate) fn failed(&self, status: tonic::Status) -> anyhow::Error {
        explain_failure(&self.s2cs, &self.credentials, status)
    }
}
