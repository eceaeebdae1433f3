//! One run per key at a time: concurrent callers with the same key share the first one's result
//! instead of each doing the work (here: each asking the auth server about the same token).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::OnceCell;

pub(crate) struct SingleFlight<K, V> {
    runs: Mutex<HashMap<K, Run<V>>>,
}

/// A run under way, and how many callers hold it.
struct Run<V> {
    callers: usize,
    result: Arc<OnceCell<V>>,
}

impl<K: Hash + Eq + Clone, V: Clone> SingleFlight<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            runs: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `call` for `key`, or waits for the run already under way and returns its result.
    /// If the caller running it goes away, one of the waiting callers runs it instead.
    pub(crate) async fn run<F: Future<Output = V>>(&self, key: K, call: impl FnOnce() -> F) -> V {
        let share = Share::join(self, key);
        share.result.get_or_init(call).await.clone()
    }

    /// The number of keys with a run under way or waited for.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Run<V>>> {
        // The map stays consistent whatever panicked while it was held.
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One caller's hold on a run. The last caller to let go (done or cancelled) removes the run,
/// so a later call runs afresh and the map never outgrows the calls in progress.
struct Share<'a, K: Hash + Eq + Clone, V: Clone> {
    flights: &'a SingleFlight<K, V>,
    key: K,
    result: Arc<OnceCell<V>>,
}

impl<'a, K: Hash + Eq + Clone, V: Clone> Share<'a, K, V> {
    fn join(flights: &'a SingleFlight<K, V>, key: K) -> Self {
        let mut runs = flights.lock();
        let run = runs.entry(key.clone()).or_insert_with(|| Run {
            callers: 0,
            result: Arc::default(),
        });
        run.callers += 1;
        let result = run.result.clone();
        drop(runs);
        Share {
            flights,
            key,
            result,
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Drop for Share<'_, K, V> {
    fn drop(&mut self) {
        let mut runs = self.flights.lock();
        if let Some(run) = runs.get_mut(&self.key) {
            run.callers -= 1;
            if run.callers == 0 {
                runs.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_one_run() {
        let flights = SingleFlight::new();
        let runs = AtomicUsize::new(0);
        let (release, released) = tokio::sync::watch::channel(false);
        let call = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            let mut released = released.clone();
            released.wait_for(|open| *open).await.unwrap();
            7
        };
        let waiting = async {
            tokio::join!(
                flights.run(1, call),
                flights.run(1, call),
                flights.run(1, call)
            )
        };
        let (results, ()) = tokio::join!(waiting, async { release.send(true).unwrap() });
        assert_eq!(results, (7, 7, 7));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(flights.len(), 0, "the finished run was removed");
        assert_eq!(
            flights.run(1, || async { 8 }).await,
            8,
            "a later call runs afresh"
        );
    }

    #[tokio::test]
    async fn a_cancelled_run_is_taken_over_or_removed() {
        let flights = SingleFlight::new();
        let never = || std::future::pending::<u8>();
        // The first caller gives up; the second, already waiting, runs the call itself.
        let first = tokio::time::timeout(std::time::Duration::ZERO, flights.run(1, never));
        let second = flights.run(1, || async { 5 });
        let (first, second) = tokio::join!(first, second);
        assert!(first.is_err());
        assert_eq!(second, 5);
        // A lone caller that gives up leaves nothing behind.
        let lone = tokio::time::timeout(std::time::Duration::ZERO, flights.run(2, never));
        assert!(lone.await.is_err());
        assert_eq!(flights.len(), 0);
    }
}
