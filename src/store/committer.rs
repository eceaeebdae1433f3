//! The one thread that writes to the store. It takes every change queued while it was busy and
//! commits them together: a burst of concurrent calls costs one fsync, and a lone call waits for
//! only its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::{Backend, Change, StoreError};

/// The most changes one transaction carries, so that a flood cannot grow one without bound.
const MAX_BATCH: usize = 4096;

type Queued = (Change, oneshot::Sender<Result<(), StoreError>>);

#[derive(Clone)]
pub(super) struct Committer(Arc<Inner>);

struct Inner {
    /// None once closed.
    queue: Mutex<Option<mpsc::Sender<Queued>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Committer {
    /// Starts the thread, which owns the backend until [`Committer::close`].
    pub(super) fn start(backend: Box<dyn Backend>) -> Committer {
        let committer = Committer(Arc::new(Inner {
            queue: Mutex::new(None),
            thread: Mutex::new(None),
        }));
        committer.restart(backend);
        committer
    }

    /// Starts the thread again over `backend` (after a close), for every clone of this
    /// committer.
    pub(super) fn restart(&self, backend: Box<dyn Backend>) {
        let (queue, queued) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("session-store".into())
            .spawn(move || run(backend.as_ref(), &queued))
            .expect("the session store thread starts");
        *lock(&self.0.queue) = Some(queue);
        *lock(&self.0.thread) = Some(thread);
    }

    pub(super) fn is_closed(&self) -> bool {
        lock(&self.0.queue).is_none()
    }

    pub(super) fn submit(&self, change: Change) -> Durable {
        let (done, durable) = oneshot::channel();
        if let Some(queue) = lock(&self.0.queue).as_ref() {
            // Fails only if the thread panicked; the dropped sender then reports it.
            let _ = queue.send((change, done));
        }
        Durable(durable)
    }

    /// Writes what is queued, then lets go of the backend (and its file). Later submits fail.
    pub(super) fn close(&self) {
        drop(lock(&self.0.queue).take());
        if let Some(thread) = lock(&self.0.thread).take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn run(backend: &dyn Backend, queued: &mpsc::Receiver<Queued>) {
    while let Ok(first) = queued.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queued.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (changes, waiters): (Vec<Change>, Vec<_>) = batch.into_iter().unzip();
        let result = backend.commit(&changes);
        if let Err(e) = &result {
            tracing::error!(changes = changes.len(), "{e}");
        }
        for waiter in waiters {
            let _ = waiter.send(result.clone());
        }
    }
}

/// A submitted change; resolves once it is on disk (or could not be written).
pub(crate) struct Durable(oneshot::Receiver<Result<(), StoreError>>);

impl Future for Durable {
    type Output = Result<(), StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|answer| {
            answer.unwrap_or_else(|_| {
                Err(StoreError::Io {
                    path: "the session store".into(),
                    detail: "it is closed, or its writer thread stopped".into(),
                })
            })
        })
    }
}
