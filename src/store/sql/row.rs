//! Rows as the store reads them: one decoder per model, by column position.

use crate::ids::{IdError, SlackId};
use crate::store::{StoreError, StoreResult};

/// A row of either backend, read by column position (0 first).
pub trait Row {
    fn int(&self, index: usize) -> StoreResult<Option<i64>>;
    fn text(&self, index: usize) -> StoreResult<Option<String>>;
    fn boolean(&self, index: usize) -> StoreResult<Option<bool>>;
}

/// A model read from a row.
pub trait FromRow: Sized + Send {
    fn from_row(row: &dyn Row) -> StoreResult<Self>;
}

/// One column's value of a Rust type.
pub trait Column: Sized {
    fn read(row: &dyn Row, index: usize) -> StoreResult<Self>;
}

fn not_null<T>(value: Option<T>, index: usize) -> StoreResult<T> {
    value.ok_or_else(|| StoreError::Corrupt(format!("column {index} is NULL")))
}

impl Column for i64 {
    fn read(row: &dyn Row, index: usize) -> StoreResult<Self> {
        not_null(row.int(index)?, index)
    }
}

impl Column for Option<i64> {
    fn read(row: &dyn Row, index: usize) -> StoreResult<Self> {
        row.int(index)
    }
}

impl Column for String {
    fn read(row: &dyn Row, index: usize) -> StoreResult<Self> {
        not_null(row.text(index)?, index)
    }
}

impl Column for Option<String> {
    fn read(row: &dyn Row, index: usize) -> StoreResult<Self> {
        row.text(index)
    }
}

impl Column for bool {
    fn read(row: &dyn Row, index: usize) -> StoreResult<Self> {
        not_null(row.boolean(index)?, index)
    }
}

/// Ids are checked as they are read back: a stored id of another shape is corrupt data.
impl<Id: SlackId + TryFrom<String, Error = IdError>> Column for Id {
    fn read(row: &dyn Row, index: usize) -> StoreResult<Self> {
        let text: String = not_null(row.text(index)?, index)?;
        Id::try_from(text).map_err(|err| StoreError::Corrupt(format!("column {index}: {err}")))
    }
}

impl<Id: SlackId + TryFrom<String, Error = IdError>> Column for Option<Id> {
    fn read(row: &dyn Row, index: usize) -> StoreResult<Self> {
        row.text(index)?
            .map(Id::try_from)
            .transpose()
            .map_err(|err| StoreError::Corrupt(format!("column {index}: {err}")))
    }
}

/// An id in a column that took text unchecked before ids were typed: a member's (an
/// insight's author, a voter, a reaction's or a prompt's author, whoever changed a circle) or
/// what an OAuth grant named (the installer, the organization). Text of another shape reads as
/// no id, and is logged, rather than failing the read: such an id only names someone, and one
/// odd row must not stop a whole export, report, digest or capture. The team and channel ids
/// that key rows were checked before they were stored, and read strictly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lenient<Id>(pub Option<Id>);

impl<Id: SlackId + TryFrom<String, Error = IdError>> Column for Lenient<Id> {
    fn read(row: &dyn Row, index: usize) -> StoreResult<Self> {
        Ok(Lenient(row.text(index)?.and_then(|text| {
            // A forgotten member's insights name a pseudonym on purpose: no id, nothing odd.
            if crate::store::forget::is_pseudonym(&text) {
                return None;
            }
            match Id::try_from(text) {
                Ok(id) => Some(id),
                Err(err) => {
                    tracing::warn!(column = index, error = %err, "a stored id of another shape reads as none");
                    None
                }
            }
        })))
    }
}

/// Reads a row's columns one after the other, for decoders that list a model's fields in its
/// columns' order.
pub struct Columns<'r> {
    row: &'r dyn Row,
    next: usize,
}

impl<'r> Columns<'r> {
    pub fn new(row: &'r dyn Row) -> Self {
        Self { row, next: 0 }
    }

    /// The next column's value.
    pub fn take<T: Column>(&mut self) -> StoreResult<T> {
        let value = T::read(self.row, self.next)?;
        self.next += 1;
        Ok(value)
    }

    /// The next column as an id read leniently (see [`Lenient`]).
    pub fn lenient<Id: SlackId + TryFrom<String, Error = IdError>>(&mut self) -> StoreResult<Option<Id>> {
        let Lenient(id) = self.take()?;
        Ok(id)
    }

    /// The next column's text, parsed (an enum stored by name).
    pub fn parsed<T: TryFrom<String, Error = String>>(&mut self) -> StoreResult<T> {
        let index = self.next;
        let text: String = self.take()?;
        T::try_from(text).map_err(|err| StoreError::Corrupt(format!("column {index}: {err}")))
    }
}

impl FromRow for i64 {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        i64::read(row, 0)
    }
}

impl FromRow for String {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        String::read(row, 0)
    }
}

impl<Id: SlackId + TryFrom<String, Error = IdError> + Send> FromRow for Id {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        Id::read(row, 0)
    }
}

impl FromRow for bool {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        bool::read(row, 0)
    }
}

impl<A: Column + Send> FromRow for (A,) {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        Ok((A::read(row, 0)?,))
    }
}

impl<A: Column + Send, B: Column + Send> FromRow for (A, B) {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        Ok((A::read(row, 0)?, B::read(row, 1)?))
    }
}

impl<A: Column + Send, B: Column + Send, C: Column + Send> FromRow for (A, B, C) {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        Ok((A::read(row, 0)?, B::read(row, 1)?, C::read(row, 2)?))
    }
}
