//! How the insight models read from a row, one decoder each, by the column order of the
//! statements that select them.

use crate::store::StoreResult;
use crate::store::insights::{CachedMessage, CircleCount, EmojiOverride, Insight, Reply, Rule};
use crate::store::sql::{Columns, FromRow, Row};

/// Columns: [`INSIGHT_COLUMNS`](super::insights::INSIGHT_COLUMNS).
impl FromRow for Insight {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut columns = Columns::new(row);
        Ok(Self {
            id: columns.take()?,
            team_id: columns.take()?,
            number: columns.take()?,
            channel_id: columns.take()?,
            message_ts: columns.take()?,
            thread_ts: columns.take()?,
            author_id: columns.lenient()?,
            author_team_id: columns.take()?,
            text: columns.take()?,
            text_version: columns.take()?,
            source: columns.parsed()?,
            status: columns.parsed()?,
            product_area: columns.take()?,
            sentiment: columns.take()?,
            customer_company: columns.take()?,
            deleted: columns.take()?,
            merged_into: columns.take()?,
            created_at: columns.take()?,
            updated_at: columns.take()?,
        })
    }
}

/// Columns: team_id, channel_id, ts, user_id, text, thread_ts, user_team_id.
impl FromRow for CachedMessage {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut columns = Columns::new(row);
        Ok(Self {
            team_id: columns.take()?,
            channel_id: columns.take()?,
            ts: columns.take()?,
            user_id: columns.lenient()?,
            text: columns.take()?,
            thread_ts: columns.take()?,
            user_team_id: columns.take()?,
        })
    }
}

/// Columns: channel_id, ts, user_id, text.
impl FromRow for Reply {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut columns = Columns::new(row);
        Ok(Self {
            channel_id: columns.take()?,
            ts: columns.take()?,
            user_id: columns.lenient()?,
            text: columns.take()?,
        })
    }
}

/// Columns: channel_id, count.
impl FromRow for CircleCount {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut columns = Columns::new(row);
        Ok(Self {
            channel_id: columns.take()?,
            insights: columns.take()?,
        })
    }
}

/// Columns: number, phrase, tag, capture.
impl FromRow for Rule {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut columns = Columns::new(row);
        Ok(Self {
            number: columns.take()?,
            phrase: columns.take()?,
            tag: columns.take()?,
            capture: columns.take()?,
        })
    }
}

/// Columns: emoji, tag.
impl FromRow for EmojiOverride {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut columns = Columns::new(row);
        Ok(Self {
            emoji: columns.take()?,
            tag: columns.take()?,
        })
    }
}
