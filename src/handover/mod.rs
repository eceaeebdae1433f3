//! Live upgrades: the running server hands its listening sockets and established relayed
//! connections to the next server process.

mod wire;
