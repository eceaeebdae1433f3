//! The gateway scope and the Globus identities and group that the policy and quota tests
//! give the local OAuth2 server, so that one test's alice is every test's alice.

/// The gateway's scope (its client id) and its client secret.
pub const S1: &str = "c42c0dac-0a52-408e-a04f-5d31bfe0aef8";
pub const SECRET: &str = "s1-secret";
pub const ALICE: &str = "a11ce000-0000-4000-8000-00000000000a";
pub const BOB: &str = "b0b00000-0000-4000-8000-00000000000b";
pub const CAROL: &str = "ca201000-0000-4000-8000-00000000000c";
pub const ADMIN: &str = "ad000000-0000-4000-8000-0000000000ad";
/// A Globus group.
pub const GROUP: &str = "6f1c0a3e-0000-4000-8000-000000000001";
