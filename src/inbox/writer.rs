//! Group commit: request handlers hand their row to one writer, which stores everything
//! waiting in a single transaction. With `synchronous=FULL` a commit per event costs an fsync
//! each; one commit per batch makes durable ingest nearly as fast as not storing at all.
//!
//! The writer runs on a thread of its own, not on a tokio worker: between two commits it never
//! waits for a worker busy with HTTP, and a SQLite commit may block it for its fsync.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::NewInboxItem;
use super::{InboxAppender, InboxStore};
use crate::metrics::Metrics;
use crate::store_error::StoreError;

/// The most rows one commit takes; bounds commit latency, and so acknowledgement latency.
const MAX_BATCH: usize = 512;
/// Rows waiting for the writer beyond this make callers wait (backpressure).
const QUEUE_CAPACITY: usize = 8192;

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the inbox writer has stopped")]
    Closed,
    #[error(transparent)]
    Store(Arc<StoreError>),
}

impl WriteError {
    /// The database could not take the write now; the caller should ask Slack to retry.
    pub fn is_unavailable(&self) -> bool {
        match self {
            WriteError::Closed => true,
            WriteError::Store(err) => err.is_unavailable(),
        }
    }
}

/// One commit's requests share one outcome: the writer records it once and wakes every waiter
/// with one call, instead of a channel message in and a oneshot reply out per event.
#[derive(Default)]
struct Outcome {
    result: OnceLock<Result<(), WriteError>>,
    done: Notify,
}

impl Outcome {
    fn finish(&self, result: Result<(), WriteError>) {
        let _ = self.result.set(result);
        self.done.notify_waiters();
    }

    async fn wait(&self) -> Result<(), WriteError> {
        let done = self.done.notified();
        tokio::pin!(done);
        // Registered before looking, so a commit finishing in between still wakes us.
        done.as_mut().enable();
        if let Some(result) = self.result.get() {
            return result.clone();
        }
        done.await;
        self.result.get().cloned().unwrap_or(Err(WriteError::Closed))
    }
}

/// Rows waiting for the writer, in batches of at most [`MAX_BATCH`], oldest first.
#[derive(Default)]
struct Queue {
    batches: VecDeque<(Vec<NewInboxItem>, Arc<Outcome>)>,
    queued: usize,
    /// Every handle is gone: the writer drains what is queued and stops.
    closed: bool,
    /// The writer task has ended; nothing queued now would ever be written.
    stopped: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the writer when a row arrives at an empty queue or the last handle goes. A
    /// condition variable, not a tokio `Notify`: the writer has a thread of its own to block,
    /// and its short wait before giving the connection back needs no tokio timer.
    work: Condvar,
    /// Wakes callers waiting for room in a full queue.
    room: Notify,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // The lock is never held across a panic-prone call; a poisoned queue is still usable.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Closes the queue when the last [`InboxWriter`] clone is dropped.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.queue().closed = true;
        self.shared.work.notify_one();
    }
}

/// Handle for request handlers; cheap to clone.
#[derive(Clone)]
pub struct InboxWriter {
    handle: Arc<Handle>,
}

impl InboxWriter {
    /// Starts the writer on a thread of the runtime's blocking pool. It stops once every handle
    /// is dropped and the queue is drained. `stored` is notified after each commit that stored
    /// something, to wake workers. Call from inside a tokio runtime.
    pub fn spawn(
        store: Arc<dyn InboxStore>,
        stored: Arc<Notify>,
        metrics: Metrics,
    ) -> (Self, JoinHandle<()>) {
        let shared = Arc::new(Shared::default());
        let runtime = tokio::runtime::Handle::current();
        let writer = write_batches(store, shared.clone(), stored, metrics);
        let task = tokio::task::spawn_blocking(move || runtime.block_on(writer));
        (
            Self {
                handle: Arc::new(Handle { shared }),
            },
            task,
        )
    }

    /// Returns once `item` is durably stored, now or by an earlier delivery of the same event.
    pub async fn write(&self, item: NewInboxItem) -> Result<(), WriteError> {
        let shared = &self.handle.shared;
        let outcome = loop {
            {
                let mut queue = shared.queue();
                if queue.stopped {
                    return Err(WriteError::Closed);
                }
                if queue.queued < QUEUE_CAPACITY {
                    queue.queued += 1;
                    let writer_idle = queue.batches.is_empty();
                    let outcome = match queue.batches.back_mut() {
                        Some((items, outcome)) if items.len() < MAX_BATCH => {
                            items.push(item);
                            outcome.clone()
                        }
                        _ => {
                            let outcome = Arc::new(Outcome::default());
                            let mut items = Vec::with_capacity(64);
                            items.push(item);
                            queue.batches.push_back((items, outcome.clone()));
                            outcome
                        }
                    };
                    drop(queue);
                    if writer_idle {
                        shared.work.notify_one();
                    }
                    break outcome;
                }
            }
            // Backpressure: wait until the writer takes a batch.
            let room = shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            let full = {
                let queue = shared.queue();
                queue.queued >= QUEUE_CAPACITY && !queue.stopped
            };
            if full {
                room.await;
            }
        };
        outcome.wait().await
    }
}

/// Fails whatever is queued or in flight if the writer task ends early (a panic), so no
/// request waits forever.
struct StopGuard {
    shared: Arc<Shared>,
    in_flight: Option<Arc<Outcome>>,
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        let batches = {
            let mut queue = self.shared.queue();
            queue.stopped = true;
            queue.queued = 0;
            std::mem::take(&mut queue.batches)
        };
        for outcome in self
            .in_flight
            .take()
            .into_iter()
            .chain(batches.into_iter().map(|(_, o)| o))
        {
            if outcome.result.get().is_none() {
                outcome.finish(Err(WriteError::Closed));
            }
        }
        self.shared.room.notify_waiters();
    }
}

async fn write_batches(
    store: Arc<dyn InboxStore>,
    shared: Arc<Shared>,
    stored_signal: Arc<Notify>,
    metrics: Metrics,
) {
    let mut guard = StopGuard {
        shared: shared.clone(),
        in_flight: None,
    };
    let mut held = HeldAppender {
        appender: None,
        metrics: metrics.clone(),
    };
    loop {
        let next = {
            let mut queue = shared.queue();
            loop {
                if let Some(batch) = queue.batches.pop_front() {
                    queue.queued -= batch.0.len();
                    break Some(batch);
                }
                if queue.closed {
                    break None;
                }
                if held.may_keep() {
                    let (relocked, waited) = shared
                        .work
                        .wait_timeout(queue, IDLE_GRACE)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    queue = relocked;
                    if !waited.timed_out() || !queue.batches.is_empty() {
                        continue;
                    }
                }
                if held.holds() {
                    // Idle for a moment, or held too long: the workers get the connection.
                    drop(queue);
                    held.release();
                    queue = shared.queue();
                    continue;
                }
                queue = shared
                    .work
                    .wait(queue)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        let Some((items, outcome)) = next else {
            return;
        };
        shared.room.notify_waiters();
        guard.in_flight = Some(outcome.clone());
        metrics.observe_ingest_batch(items.len());
        let result = match held.append(&store, &items).await {
            Ok(stored) => {
                let duplicates = items.len() as u64 - stored.min(items.len() as u64);
                metrics.count_inbox_writes("stored", stored);
                metrics.count_inbox_writes("duplicate", duplicates);
                if stored > 0 {
                    stored_signal.notify_waiters();
                }
                Ok(())
            }
            Err(err) => {
                tracing::error!(error = %err, rows = items.len(), "inbox write failed; Slack will retry");
                metrics.count_inbox_writes("error", items.len() as u64);
                Err(WriteError::Store(Arc::new(err)))
            }
        };
        outcome.finish(result);
        guard.in_flight = None;
        held.upkeep().await;
    }
}

/// How long the writer keeps the connection while batches keep coming; then it lets a waiting
/// worker have it (SQLite has one write connection) before taking it again.
const HOLD_AT_MOST: Duration = Duration::from_millis(10);

/// How long the writer, out of work, keeps the connection before it gives it back. Under load
/// the next batch mostly arrives within this grace, and taking the connection again is a trip
/// through sqlx's pool that the batch would wait for (docs/BENCHMARKS.md); a worker waiting for
/// the connection waits this much longer at most.
const IDLE_GRACE: Duration = Duration::from_millis(1);

/// The writer's appender, while it holds one.
struct HeldAppender {
    appender: Option<(Box<dyn InboxAppender>, Instant)>,
    metrics: Metrics,
}

impl HeldAppender {
    fn holds(&self) -> bool {
        self.appender.is_some()
    }

    /// Whether the writer holds the connection and may keep it a little longer.
    fn may_keep(&self) -> bool {
        self.appender
            .as_ref()
            .is_some_and(|(_, since)| since.elapsed() < HOLD_AT_MOST)
    }

    async fn append(
        &mut self,
        store: &Arc<dyn InboxStore>,
        items: &[NewInboxItem],
    ) -> Result<u64, StoreError> {
        if !self.may_keep() {
            self.release();
        }
        let appender = match &mut self.appender {
            Some((appender, _)) => appender,
            None => {
                let taken = store.inbox_appender().await?;
                self.metrics.count_ingest_write_turn();
                &mut self.appender.insert((taken, Instant::now())).0
            }
        };
        let stored = appender.append(items).await;
        if stored.is_err() {
            // The connection may be broken; the next batch takes a fresh one.
            self.release();
        }
        stored
    }

    async fn upkeep(&mut self) {
        if let Some((appender, _)) = &mut self.appender
            && let Err(err) = appender.upkeep().await
        {
            tracing::warn!(error = %err, "inbox upkeep after a commit failed; will try again");
        }
    }

    fn release(&mut self) {
        self.appender = None;
    }
}
