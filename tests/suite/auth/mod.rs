//! Authentication: the config file, `login` / `logout` / `check-auth` through the binary, and
//! the library the client and server use, all against a local OAuth2 server.

mod check_auth;
mod config_files;
mod credentials;
mod introspect;
mod login;
mod login_hint;
mod logout;
mod ownership;
mod scenarios;

/// The default scope, and a second resource server's.
const S1: &str = "c42c0dac-0a52-408e-a04f-5d31bfe0aef8";
const S2: &str = "5b5f6e43-6a8e-4d5e-9d6a-2a7f0b1c9e11";
