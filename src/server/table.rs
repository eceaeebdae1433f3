//! The session table the control service works on: a lone server's own ([`Sessions`], kept
//! in its embedded store) or a pool's ([`Pool`], kept in etcd and answered for the whole pool).
//! The handlers of the `control` module call the same operations on either; an enum,
//! not a trait object, because there are exactly these two and their calls are async.

use std::sync::Arc;

use super::call::Caller;
use super::error::Error;
use super::pool::Pool;
use super::sessions::{Expiring, NewSession, Relaying, Sessions, Totals};
use crate::address::HostPort;
use crate::session::SessionView;
use crate::tls::hop::{HopCredential, HopDialer};

#[derive(Clone)]
pub(crate) enum Table {
    Local(Arc<Sessions>),
    Pool(Arc<Pool>),
}

impl Table {
    /// Opens a session and waits for its hello: (listeners, prod_listeners).
    pub(crate) async fn create(
        &self,
        new: NewSession,
        caller: &Caller,
    ) -> Result<(Vec<String>, Vec<HostPort>), Error> {
        match self {
            Table::Local(sessions) => sessions.create(new, caller).await,
            Table::Pool(pool) => pool.create(new, caller).await,
        }
    }

    /// Delivers a hello; the session's listeners.
    pub(crate) async fn hello(
        &self,
        uid: &str,
        prod_listeners: Vec<HostPort>,
        caller: &Caller,
    ) -> Result<Vec<String>, Error> {
        match self {
            Table::Local(sessions) => sessions.hello(uid, prod_listeners, caller).await,
            Table::Pool(pool) => pool.hello(uid, prod_listeners, caller).await,
        }
    }

    /// Whether `uid` may be updated by `caller` now.
    pub(crate) async fn check_update(&self, uid: &str, caller: &Caller) -> Result<(), Error> {
        match self {
            Table::Local(sessions) => sessions.check_update(uid, caller),
            Table::Pool(pool) => pool.check_update(uid, caller).await,
        }
    }

    pub(crate) async fn update(
        &self,
        uid: &str,
        targets: Vec<HostPort>,
        dialer: Option<Arc<HopDialer>>,
        caller: &Caller,
    ) -> Result<Relaying, Error> {
        match self {
            Table::Local(sessions) => sessions.update(uid, targets, dialer, caller).await,
            Table::Pool(pool) => pool.update(uid, targets, dialer, caller).await,
        }
    }

    pub(crate) async fn arm_hop(
        &self,
        uid: &str,
        plaintext: bool,
        caller: &Caller,
    ) -> Result<Option<HopCredential>, Error> {
        match self {
            Table::Local(sessions) => sessions.arm_hop(uid, plaintext, caller).await,
            Table::Pool(pool) => pool.arm_hop(uid, plaintext, caller).await,
        }
    }

    pub(crate) async fn release(&self, uid: &str, caller: &Caller) -> Result<SessionView, Error> {
        match self {
            Table::Local(sessions) => sessions.release(uid, caller).await,
            Table::Pool(pool) => pool.release(uid, caller).await,
        }
    }

    pub(crate) async fn view(&self, uid: &str, caller: &Caller) -> Result<SessionView, Error> {
        match self {
            Table::Local(sessions) => sessions.view(uid, caller),
            Table::Pool(pool) => pool.view(uid, caller).await,
        }
    }

    /// The sessions `caller` oversees after the cursor `after`, each with its cursor.
    pub(crate) async fn list_after(
        &self,
        after: u64,
        caller: &Caller,
    ) -> Result<Vec<(u64, SessionView)>, Error> {
        match self {
            Table::Local(sessions) => Ok(sessions.list_after(after, caller)),
            Table::Pool(pool) => pool.list_after(after, caller).await,
        }
    }

    /// Releases expired sessions until dropped. None for a pool's node: it releases those it
    /// sweeps among its background duties (`pool::shares::keep`).
    pub(crate) fn expire_in_background(&self) -> Option<Expiring> {
        match self {
            Table::Local(sessions) => Some(sessions.expire_in_background()),
            Table::Pool(_) => None,
        }
    }

    /// What this server holds now, for its metrics.
    pub(crate) fn totals(&self) -> Totals {
        match self {
            Table::Local(sessions) => sessions.totals(),
            Table::Pool(pool) => pool.totals(),
        }
    }

    /// Stops every relay of this server (it is stopping); the sessions stay stored. How many.
    pub(crate) async fn stop_all(&self) -> Result<usize, Error> {
        match self {
            Table::Local(sessions) => Ok(sessions.stop_all().await?),
            Table::Pool(pool) => Ok(pool.stop_all().await),
        }
    }
}
