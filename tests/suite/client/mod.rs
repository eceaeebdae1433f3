//! The user client: opening sessions through the client library (`req prod|cons|stream`), what
//! it refuses to expose, what it does with a hostile control server's replies, and the run
//! token that ties `app send` to `app recv`.

mod front;
mod hostile;
mod run_token;
mod setup;
