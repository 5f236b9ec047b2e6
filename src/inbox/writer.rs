//! Group commit: request handlers hand their row to one writer task, which stores everything
//! waiting in a single transaction. With `synchronous=FULL` a commit per event costs an fsync
//! each; one commit per batch makes durable ingest nearly as fast as not storing at all.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::NewInboxItem;
use crate::metrics::Metrics;
use crate::store::{SharedStore, StoreError};

/// The most rows one commit takes; bounds commit latency, and so acknowledgement latency.
const MAX_BATCH: usize = 512;
/// Requests waiting for the writer beyond this make callers wait (backpressure).
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

struct Request {
    item: NewInboxItem,
    reply: oneshot::Sender<Result<(), WriteError>>,
}

/// Handle for request handlers; cheap to clone.
#[derive(Clone)]
pub struct InboxWriter {
    requests: mpsc::Sender<Request>,
}

impl InboxWriter {
    /// Starts the writer task. It stops once every handle is dropped and the queue is drained.
    /// `stored` is notified after each commit that stored something, to wake workers.
    pub fn spawn(store: SharedStore, stored: Arc<Notify>, metrics: Metrics) -> (Self, JoinHandle<()>) {
        let (requests, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let task = tokio::spawn(write_batches(store, receiver, stored, metrics));
        (Self { requests }, task)
    }

    /// Returns once `item` is durably stored, now or by an earlier delivery of the same event.
    pub async fn write(&self, item: NewInboxItem) -> Result<(), WriteError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { item, reply })
            .await
            .map_err(|_| WriteError::Closed)?;
        answer.await.map_err(|_| WriteError::Closed)?
    }
}

async fn write_batches(
    store: SharedStore,
    mut receiver: mpsc::Receiver<Request>,
    stored_signal: Arc<Notify>,
    metrics: Metrics,
) {
    let mut requests = Vec::with_capacity(MAX_BATCH);
    let mut items = Vec::with_capacity(MAX_BATCH);
    let mut replies = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut requests, MAX_BATCH).await > 0 {
        for Request { item, reply } in requests.drain(..) {
            items.push(item);
            replies.push(reply);
        }
        metrics.observe_ingest_batch(items.len());
        match store.insert_inbox(&items).await {
            Ok(stored) => {
                let duplicates = items.len() as u64 - stored.min(items.len() as u64);
                metrics.count_inbox_writes("stored", stored);
                metrics.count_inbox_writes("duplicate", duplicates);
                for reply in replies.drain(..) {
                    let _ = reply.send(Ok(()));
                }
                if stored > 0 {
                    stored_signal.notify_waiters();
                }
            }
            Err(err) => {
                tracing::error!(error = %err, rows = items.len(), "inbox write failed; Slack will retry");
                let err = WriteError::Store(Arc::new(err));
                metrics.count_inbox_writes("error", items.len() as u64);
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
        items.clear();
    }
}
