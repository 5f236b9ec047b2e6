//! Export: insights as CSV or JSON Lines, streamed from the store in batches so memory stays
//! flat however many rows there are. The CLI, the HTTP API and `/feedback export` all use it.

pub mod command;
pub mod filter;
pub mod format;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};

pub use filter::{FilterError, FilterInput};
pub use format::{COLUMNS, Encoder, ExportFormat};

use crate::store::{InsightFilter, InsightReads, StoreError, StoreResult};

/// The encoded export: the header, then one chunk per batch of rows, each with its row count.
pub fn encoded(
    reads: &dyn InsightReads,
    filter: InsightFilter,
    format: ExportFormat,
) -> impl Stream<Item = StoreResult<(Bytes, usize)>> + Send + 'static {
    let mut encoder = Encoder::new(format);
    let header = encoder.header();
    let rows = reads.export(filter).map(move |batch| {
        let batch = batch?;
        Ok((Bytes::from(encoder.rows(&batch)), batch.len()))
    });
    stream::iter((!header.is_empty()).then(|| Ok((Bytes::from(header), 0)))).chain(rows)
}

/// Why writing an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Writes the whole export to `out` and flushes it; `progress` hears the running row count
/// after each batch. Returns how many rows were written.
pub async fn write_to(
    reads: &dyn InsightReads,
    filter: InsightFilter,
    format: ExportFormat,
    out: &mut impl std::io::Write,
    mut progress: impl FnMut(usize),
) -> Result<usize, WriteError> {
    let mut rows = 0;
    let mut chunks = Box::pin(encoded(reads, filter, format));
    while let Some(chunk) = chunks.next().await {
        let (bytes, count) = chunk?;
        out.write_all(&bytes)?;
        rows += count;
        progress(rows);
    }
    out.flush()?;
    Ok(rows)
}
