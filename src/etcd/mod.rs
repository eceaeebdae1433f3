//! A client of etcd's v3 API: keys, transactions, leases and watches, over tonic.
//!
//! Generated with protox from `proto/etcd.proto` like the control protocol, rather than through
//! the etcd-client crate, whose build needs a system `protoc`: a fresh machine with only Rust
//! keeps building and testing scistream.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::Streaming;

/// Code generated from `proto/etcd.proto`: etcd's names, as its API has them.
#[allow(clippy::enum_variant_names)]
pub(crate) mod pb {
    tonic::include_proto!("etcdserverpb");
}

use pb::compare::{CompareResult, CompareTarget, TargetUnion};
use pb::kv_client::KvClient;
use pb::lease_client::LeaseClient;
use pb::request_op::Request;
use pb::watch_client::WatchClient;

/// The longest one call to etcd may take before it counts as unreachable.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// What to trust and what to show when etcd speaks TLS.
#[derive(Clone, Debug)]
pub(crate) struct EtcdTls {
    /// The CA that signed etcd's certificate; None: the system's.
    pub(crate) ca: Option<PathBuf>,
    /// A client certificate and its key, when etcd asks for one.
    pub(crate) identity: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum EtcdError {
    #[error("etcd at {cluster} is unreachable: {detail}")]
    Unavailable { cluster: String, detail: String },
    #[error("etcd at {cluster} refused a request: {detail}")]
    Refused { cluster: String, detail: String },
    #[error("could not set up the connection to etcd: {0}")]
    Setup(String),
}

/// A connection to one etcd cluster (any of its members).
#[derive(Clone)]
pub(crate) struct Etcd {
    channel: Channel,
    cluster: String,
}

/// One compare-and-act transaction, built up before it is sent.
#[derive(Default)]
pub(crate) struct Txn {
    compare: Vec<pb::Compare>,
    success: Vec<pb::RequestOp>,
    failure: Vec<pb::RequestOp>,
}

impl Txn {
    /// Holds only if `key` does not exist.
    pub(crate) fn absent(self, key: &str) -> Self {
        self.equal(key, CompareTarget::Version, TargetUnion::Version(0))
    }

    /// Holds only if `key` was last written at `revision` (0: it does not exist).
    pub(crate) fn unchanged_since(self, key: &str, revision: i64) -> Self {
        self.equal(key, CompareTarget::Mod, TargetUnion::ModRevision(revision))
    }

    /// Holds only if `key` exists under `lease`.
    pub(crate) fn leased(self, key: &str, lease: i64) -> Self {
        self.equal(key, CompareTarget::Lease, TargetUnion::Lease(lease))
    }

    /// Holds only if `key`'s `target` is `value`.
    fn equal(mut self, key: &str, target: CompareTarget, value: TargetUnion) -> Self {
        self.compare.push(pb::Compare {
            result: CompareResult::Equal as i32,
            target: target as i32,
            key: key.into(),
            target_union: Some(value),
        });
        self
    }

    pub(crate) fn put(mut self, key: &str, value: Vec<u8>, lease: i64) -> Self {
        self.success.push(put_op(key, value, lease));
        self
    }

    pub(crate) fn delete(mut self, key: &str) -> Self {
        self.success.push(pb::RequestOp {
            request: Some(Request::RequestDeleteRange(pb::DeleteRangeRequest {
                key: key.into(),
                range_end: Vec::new(),
            })),
        });
        self
    }

    /// Reads `key` when the compares fail, to tell why.
    pub(crate) fn or_get(mut self, key: &str) -> Self {
        self.failure.push(pb::RequestOp {
            request: Some(Request::RequestRange(pb::RangeRequest {
                key: key.into(),
                ..Default::default()
            })),
        });
        self
    }
}

fn put_op(key: &str, value: Vec<u8>, lease: i64) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(Request::RequestPut(pb::PutRequest {
            key: key.into(),
            value,
            lease,
        })),
    }
}

/// The end of a key range covering every key that starts with `prefix`.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

impl Etcd {
    /// A client of the cluster whose members answer at `urls` (`http://` or `https://`).
    /// Connects lazily: an unreachable etcd shows in the first call.
    pub(crate) fn new(urls: &[String], tls: Option<&EtcdTls>) -> Result<Etcd, EtcdError> {
        let tls = tls.map(client_tls).transpose()?;
        let mut endpoints = Vec::new();
        for url in urls {
            let mut endpoint = Endpoint::from_shared(url.clone())
                .map_err(|e| EtcdError::Setup(format!("{url:?} is not a URL: {e}")))?
                .connect_timeout(CALL_TIMEOUT)
                .timeout(CALL_TIMEOUT)
                .http2_keep_alive_interval(Duration::from_secs(10))
                .keep_alive_while_idle(true);
            if let Some(tls) = &tls {
                endpoint = endpoint
                    .tls_config(tls.clone())
                    .map_err(|e| EtcdError::Setup(e.to_string()))?;
            }
            endpoints.push(endpoint);
        }
        Ok(Etcd {
            channel: Channel::balance_list(endpoints.into_iter()),
            cluster: urls.join(","),
        })
    }

    /// The members' URLs, as the operator gave them.
    pub(crate) fn cluster(&self) -> &str {
        &self.cluster
    }

    fn failed(&self, status: tonic::Status) -> EtcdError {
        let detail = described(&status);
        let cluster = self.cluster.clone();
        match status.code() {
            tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Cancelled
            | tonic::Code::Unknown => EtcdError::Unavailable { cluster, detail },
            _ => EtcdError::Refused { cluster, detail },
        }
    }

    /// Every key under `prefix` with its value, and the store's revision at that moment.
    pub(crate) async fn list(&self, prefix: &str) -> Result<(Vec<pb::KeyValue>, i64), EtcdError> {
        let request = pb::RangeRequest {
            key: prefix.into(),
            range_end: prefix_end(prefix),
            ..Default::default()
        };
        let answer = KvClient::new(self.channel.clone())
            .range(request)
            .await
            .map_err(|s| self.failed(s))?
            .into_inner();
        let revision = answer.header.map_or(0, |h| h.revision);
        Ok((answer.kvs, revision))
    }

    pub(crate) async fn put(&self, key: &str, value: Vec<u8>, lease: i64) -> Result<(), EtcdError> {
        let request = pb::PutRequest {
            key: key.into(),
            value,
            lease,
        };
        KvClient::new(self.channel.clone())
            .put(request)
            .await
            .map_err(|s| self.failed(s))?;
        Ok(())
    }

    /// Runs `txn`: whether its compares held, the store's revision after it, and the answers
    /// of the ops that ran.
    pub(crate) async fn txn(&self, txn: Txn) -> Result<Committed, EtcdError> {
        let request = pb::TxnRequest {
            compare: txn.compare,
            success: txn.success,
            failure: txn.failure,
        };
        let answer = KvClient::new(self.channel.clone())
            .txn(request)
            .await
            .map_err(|s| self.failed(s))?
            .into_inner();
        Ok(Committed {
            succeeded: answer.succeeded,
            revision: answer.header.map_or(0, |h| h.revision),
            responses: answer.responses,
        })
    }

    /// The keys of each of `ranges`, all read at one revision (in one transaction).
    pub(crate) async fn read(
        &self,
        ranges: &[Range<'_>],
    ) -> Result<Vec<Vec<pb::KeyValue>>, EtcdError> {
        let mut txn = Txn::default();
        for range in ranges {
            let (key, range_end) = match range {
                Range::Key(key) => (key.as_bytes().to_vec(), Vec::new()),
                Range::Prefix(prefix) => (prefix.as_bytes().to_vec(), prefix_end(prefix)),
            };
            txn.success.push(pb::RequestOp {
                request: Some(Request::RequestRange(pb::RangeRequest {
                    key,
                    range_end,
                    ..Default::default()
                })),
            });
        }
        Ok(self.txn(txn).await?.ranges())
    }

    /// Each of `keys` (None: absent), all read at one revision.
    pub(crate) async fn get(&self, keys: &[&str]) -> Result<Vec<Option<pb::KeyValue>>, EtcdError> {
        let ranges: Vec<Range> = keys.iter().map(|k| Range::Key(k)).collect();
        let read = self.read(&ranges).await?;
        Ok(read.into_iter().map(|kvs| kvs.into_iter().next()).collect())
    }

    /// A lease of `ttl`, kept alive by the returned handle until it is dropped (or etcd is
    /// lost for longer than the lease).
    pub(crate) async fn lease(&self, ttl: Duration) -> Result<Lease, EtcdError> {
        let request = pb::LeaseGrantRequest {
            ttl: i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX),
            id: 0,
        };
        let granted = LeaseClient::new(self.channel.clone())
            .lease_grant(request)
            .await
            .map_err(|s| self.failed(s))?
            .into_inner();
        if !granted.error.is_empty() {
            return Err(EtcdError::Refused {
                cluster: self.cluster.clone(),
                detail: granted.error,
            });
        }
        // etcd may grant more than asked (it has a floor of its own).
        let granted_ttl = Duration::from_secs(u64::try_from(granted.ttl).unwrap_or_default());
        Ok(self.keep(granted.id, ttl.max(granted_ttl)))
    }

    /// Takes over lease `id` (granted with `ttl`) if it still lives: its keys stay.
    pub(crate) async fn adopt(&self, id: i64, ttl: Duration) -> Result<Option<Lease>, EtcdError> {
        Ok(renew_once(self, id).await?.then(|| self.keep(id, ttl)))
    }

    fn keep(&self, id: i64, ttl: Duration) -> Lease {
        let (alive, watch_alive) = watch::channel(true);
        let task = tokio::spawn(keep_alive(self.clone(), id, ttl, alive));
        Lease {
            id,
            alive: watch_alive,
            task,
        }
    }

    /// Ends a lease now: every key put under it goes.
    pub(crate) async fn revoke(&self, id: i64) -> Result<(), EtcdError> {
        LeaseClient::new(self.channel.clone())
            .lease_revoke(pb::LeaseRevokeRequest { id })
            .await
            .map_err(|s| self.failed(s))?;
        Ok(())
    }

    /// The changes to keys under `prefix` after `revision`, as they happen.
    pub(crate) async fn watch(&self, prefix: &str, revision: i64) -> Result<Watch, EtcdError> {
        let (requests, outgoing) = mpsc::channel(1);
        let create = pb::WatchRequest {
            request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
                pb::WatchCreateRequest {
                    key: prefix.into(),
                    range_end: prefix_end(prefix),
                    start_revision: revision + 1,
                    progress_notify: true,
                },
            )),
        };
        let _ = requests.send(create).await;
        // A watch lasts as long as its stream: no call timeout.
        let mut client = WatchClient::new(self.channel.clone());
        let stream = client
            .watch(ReceiverStream::new(outgoing))
            .await
            .map_err(|s| self.failed(s))?
            .into_inner();
        Ok(Watch {
            stream,
            _requests: requests,
            etcd: self.clone(),
        })
    }
}

/// The status's message and the causes under it: tonic says only "transport error" when the
/// connection fails, and the cause (refused, a TLS alert) is what tells the operator the fix.
fn described(status: &tonic::Status) -> String {
    let mut detail = status.message().to_string();
    let mut cause = std::error::Error::source(status);
    while let Some(error) = cause {
        let said = error.to_string();
        if !detail.ends_with(&said) {
            detail = format!("{detail}: {said}");
        }
        cause = error.source();
    }
    detail
}

fn client_tls(tls: &EtcdTls) -> Result<ClientTlsConfig, EtcdError> {
    let read = |path: &PathBuf| {
        std::fs::read(path)
            .map_err(|e| EtcdError::Setup(format!("could not read {}: {e}", path.display())))
    };
    let mut config = match &tls.ca {
        Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?)),
        None => ClientTlsConfig::new().with_native_roots(),
    };
    if let Some((cert, key)) = &tls.identity {
        config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    Ok(config)
}

/// What one read of [`Etcd::read`] covers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Range<'a> {
    /// This one key.
    Key(&'a str),
    /// Every key that starts with this.
    Prefix(&'a str),
}

/// What a transaction did.
pub(crate) struct Committed {
    /// Whether its compares held (and so its success ops ran).
    pub(crate) succeeded: bool,
    /// The store's revision after it: the mod revision of the keys it wrote.
    pub(crate) revision: i64,
    pub(crate) responses: Vec<pb::ResponseOp>,
}

impl Committed {
    /// The keys its range ops read, one list per op, in order.
    pub(crate) fn ranges(self) -> Vec<Vec<pb::KeyValue>> {
        self.responses
            .into_iter()
            .filter_map(|op| match op.response {
                Some(pb::response_op::Response::ResponseRange(range)) => Some(range.kvs),
                _ => None,
            })
            .collect()
    }
}

/// A granted lease, renewed in the background while this handle lives.
pub(crate) struct Lease {
    pub(crate) id: i64,
    /// Turns false once the lease is known gone (expired while etcd was out of reach).
    pub(crate) alive: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Renews the lease every third of its lifetime; on losing etcd, keeps trying, and reports the
/// lease lost once etcd says it is gone or its lifetime has passed without a renewal.
async fn keep_alive(etcd: Etcd, id: i64, ttl: Duration, alive: watch::Sender<bool>) {
    let period = (ttl / 3).max(Duration::from_millis(200));
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(period).await;
        match renew_once(&etcd, id).await {
            Ok(true) => renewed = tokio::time::Instant::now(),
            Ok(false) => {
                alive.send_replace(false);
                return;
            }
            Err(e) => {
                tracing::warn!(lease = id, "could not renew the pool lease: {e}");
                if renewed.elapsed() > ttl {
                    alive.send_replace(false);
                }
            }
        }
    }
}

/// One keep-alive round trip: whether the lease still lives.
async fn renew_once(etcd: &Etcd, id: i64) -> Result<bool, EtcdError> {
    let (requests, outgoing) = mpsc::channel(1);
    let _ = requests.send(pb::LeaseKeepAliveRequest { id }).await;
    let mut client = LeaseClient::new(etcd.channel.clone());
    let mut answers = client
        .lease_keep_alive(ReceiverStream::new(outgoing))
        .await
        .map_err(|s| etcd.failed(s))?
        .into_inner();
    let answer = tokio::time::timeout(CALL_TIMEOUT, answers.message())
        .await
        .map_err(|_| EtcdError::Unavailable {
            cluster: etcd.cluster.clone(),
            detail: "no answer to a lease renewal".into(),
        })?
        .map_err(|s| etcd.failed(s))?;
    Ok(answer.is_some_and(|a| a.ttl > 0))
}

/// A stream of changes under a prefix.
pub(crate) struct Watch {
    stream: Streaming<pb::WatchResponse>,
    /// Kept open: the watch ends when its request stream does.
    _requests: mpsc::Sender<pb::WatchRequest>,
    etcd: Etcd,
}

/// What a watch reports next.
pub(crate) enum Watched {
    /// Keys changed, as of `revision`.
    Changes {
        revision: i64,
        changes: Vec<KeyChange>,
    },
    /// The history asked for is gone: read everything afresh.
    Compacted,
}

impl Watch {
    /// Waits for the next changes; an error means the watch is over (etcd lost).
    pub(crate) async fn next(&mut self) -> Result<Watched, EtcdError> {
        loop {
            let answer = self
                .stream
                .message()
                .await
                .map_err(|s| self.etcd.failed(s))?
                .ok_or_else(|| EtcdError::Unavailable {
                    cluster: self.etcd.cluster.clone(),
                    detail: "the watch ended".into(),
                })?;
            if answer.compact_revision > 0 {
                return Ok(Watched::Compacted);
            }
            if answer.canceled {
                return Err(EtcdError::Refused {
                    cluster: self.etcd.cluster.clone(),
                    detail: format!("the watch was cancelled: {}", answer.cancel_reason),
                });
            }
            if answer.events.is_empty() {
                continue;
            }
            let revision = answer.header.map_or(0, |h| h.revision);
            let changes = answer.events.into_iter().filter_map(change).collect();
            return Ok(Watched::Changes { revision, changes });
        }
    }
}

/// One key as a watch reports it.
#[derive(Clone, Debug)]
pub(crate) struct KeyChange {
    pub(crate) key: String,
    /// Its new value; None: it was deleted.
    pub(crate) value: Option<Vec<u8>>,
    /// The revision of this change.
    pub(crate) mod_revision: i64,
    /// The revision the key was created at (0 when deleted).
    pub(crate) create_revision: i64,
}

impl KeyChange {
    /// A key as a read returns it: present, with its value.
    pub(crate) fn read(kv: pb::KeyValue) -> Option<KeyChange> {
        Some(KeyChange {
            key: String::from_utf8(kv.key).ok()?,
            value: Some(kv.value),
            mod_revision: kv.mod_revision,
            create_revision: kv.create_revision,
        })
    }
}

fn change(event: pb::Event) -> Option<KeyChange> {
    let deleted = event.r#type == pb::event::EventType::Delete as i32;
    let mut change = KeyChange::read(event.kv?)?;
    if deleted {
        change.value = None;
        change.create_revision = 0;
    }
    Some(change)
}
