//! Work in one write transaction, run where its backend wants it: on the calling task for
//! PostgreSQL, on a blocking thread for SQLite (its statements step on the thread that calls
//! them, and the runtime's threads must stay free to acknowledge Slack's requests). Domain code
//! hands its work over and never chooses a thread.

use std::any::Any;

use futures_util::future::BoxFuture;

use super::{InsightTx, Store, StoreError};

/// What a transaction's work returned: `Ok` commits, `Err` rolls back. Boxed so that
/// [`Store::run_transaction`] stays callable on `dyn Store`; [`transaction`] puts the types back.
pub type TxOutcome = Result<Box<dyn Any + Send>, Box<dyn Any + Send>>;

/// A transaction's work, boxed (see [`TxOutcome`]).
pub type TxWork = Box<dyn for<'t> FnOnce(&'t mut dyn InsightTx) -> BoxFuture<'t, TxOutcome> + Send>;

/// Runs `work` in a write transaction of `store`: committed when it returns `Ok`, rolled back
/// when it returns `Err` (that error is returned, as is a failure to begin or commit).
pub async fn transaction<T, F>(store: &dyn Store, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut dyn InsightTx) -> BoxFuture<'t, Result<T, StoreError>> + Send + 'static,
{
    transaction_with(store, work).await
}

/// [`transaction`] for work that fails with errors of its own (rolled back all the same).
pub async fn transaction_with<T, E, F>(store: &dyn Store, work: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: for<'t> FnOnce(&'t mut dyn InsightTx) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
{
    let boxed: TxWork = Box::new(move |tx| {
        Box::pin(async move {
            match work(tx).await {
                Ok(value) => Ok(Box::new(value) as Box<dyn Any + Send>),
                Err(err) => Err(Box::new(err) as Box<dyn Any + Send>),
            }
        })
    });
    match store.run_transaction(boxed).await? {
        Ok(value) => Ok(*value
            .downcast::<T>()
            .expect("the value a transaction's work returned has the work's type")),
        Err(err) => Err(*err
            .downcast::<E>()
            .expect("the error a transaction's work returned has the work's type")),
    }
}

/// Begins, runs and ends a transaction on the calling task.
pub(super) async fn run_here(tx: StoreResultTx, work: TxWork) -> Result<TxOutcome, StoreError> {
    let mut tx = tx?;
    let outcome = work(tx.as_mut()).await;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    // Dropped without a commit, the transaction rolls back.
    Ok(outcome)
}

type StoreResultTx = Result<Box<dyn InsightTx>, StoreError>;

/// Runs and ends a begun transaction on a blocking thread.
pub(super) async fn run_on_a_blocking_thread(
    tx: StoreResultTx,
    work: TxWork,
) -> Result<TxOutcome, StoreError> {
    let tx = tx?;
    let runtime = tokio::runtime::Handle::current();
    let ran = tokio::task::spawn_blocking(move || runtime.block_on(run_here(Ok(tx), work)));
    match ran.await {
        Ok(outcome) => outcome,
        // A panic in the work is the work's: the caller sees it as it would have on its task.
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Err(StoreError::WriteAborted),
    }
}
