//! The export API's response body: a page of rows is read only when the client has taken the
//! previous one, by a query of its own, and the token is read again before each page after the
//! first. A slow client holds one of the process's export slots, never a database connection;
//! a revoked token ends its stream at the next page.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, stream};
use tokio::sync::OwnedSemaphorePermit;

use crate::domain::export::{Encoder, ExportFormat};
use crate::domain::tokens::{self, TokenError};
use crate::store::{ApiToken, ApiTokens, ExportPages, StoreError};

/// Why an export stopped before its end. The client sees the response cut short (no closing
/// chunk), never a file that looks complete.
#[derive(Debug, thiserror::Error)]
pub enum ExportCut {
    #[error("the token no longer stands: {0}")]
    Token(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("encoding a page failed: {0}")]
    Encode(#[from] tokio::task::JoinError),
}

pub(super) struct PagedBody {
    pub(super) pages: Box<dyn ExportPages>,
    pub(super) format: ExportFormat,
    pub(super) tokens: Arc<dyn ApiTokens>,
    pub(super) token: ApiToken,
    /// One of the process's export slots, given back when the body ends or is dropped.
    pub(super) _slot: OwnedSemaphorePermit,
}

/// Where a [`PagedBody`] stands.
struct Progress {
    body: PagedBody,
    header_sent: bool,
    pages_sent: usize,
}

impl PagedBody {
    pub(super) fn into_stream(self) -> impl Stream<Item = Result<Bytes, ExportCut>> + Send + 'static {
        let progress = Progress {
            body: self,
            header_sent: false,
            pages_sent: 0,
        };
        stream::unfold(Some(progress), |progress| async move {
            let mut progress = progress?;
            match progress.next_chunk().await {
                Ok(Some(bytes)) => Some((Ok(bytes), Some(progress))),
                Ok(None) => None,
                Err(cut) => {
                    match &cut {
                        ExportCut::Token(err) => {
                            tracing::info!(token = progress.body.token.id, reason = %err, "export stream ended: the token no longer stands");
                        }
                        ExportCut::Store(_) | ExportCut::Encode(_) => {
                            tracing::error!(error = %cut, "export API stream failed; the response is cut short");
                        }
                    }
                    Some((Err(cut), None))
                }
            }
        })
    }
}

impl Progress {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, ExportCut> {
        if !self.header_sent {
            self.header_sent = true;
            let header = Encoder::new(self.body.format).header();
            if !header.is_empty() {
                return Ok(Some(Bytes::from(header)));
            }
        }
        if self.pages_sent > 0 {
            tokens::still_valid(self.body.tokens.as_ref(), &self.body.token).await?;
        }
        let rows = self.body.pages.next_page().await?;
        if rows.is_empty() {
            return Ok(None);
        }
        self.pages_sent += 1;
        // Milliseconds of encoding: kept off the async workers that answer Slack.
        let format = self.body.format;
        let encoded = tokio::task::spawn_blocking(move || Encoder::new(format).rows(&rows)).await?;
        Ok(Some(Bytes::from(encoded)))
    }
}
