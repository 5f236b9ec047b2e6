//! A statement: SQL text and the values of its `$n` parameters.

use std::borrow::Cow;

use crate::ids::{InsightNumber, SlackId};

/// A value bound to a parameter. Each carries its type, also when it is NULL: PostgreSQL types
/// every parameter, and a NULL of the wrong type is an error there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(Option<bool>),
    /// A list, for [`super::in_list`] and PostgreSQL's `UNNEST`: an array on PostgreSQL,
    /// JSON text on SQLite.
    Ints(Vec<i64>),
    Texts(Vec<String>),
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Int(Some(value))
    }
}

impl From<Option<i64>> for Value {
    fn from(value: Option<i64>) -> Self {
        Value::Int(value)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Bool(Some(value))
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::Text(Some(value.to_owned()))
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Text(Some(value))
    }
}

impl From<&String> for Value {
    fn from(value: &String) -> Self {
        Value::Text(Some(value.clone()))
    }
}

impl From<Option<&str>> for Value {
    fn from(value: Option<&str>) -> Self {
        Value::Text(value.map(str::to_owned))
    }
}

impl From<Option<String>> for Value {
    fn from(value: Option<String>) -> Self {
        Value::Text(value)
    }
}

impl From<&Option<String>> for Value {
    fn from(value: &Option<String>) -> Self {
        Value::Text(value.clone())
    }
}

impl From<Vec<i64>> for Value {
    fn from(values: Vec<i64>) -> Self {
        Value::Ints(values)
    }
}

impl From<&[i64]> for Value {
    fn from(values: &[i64]) -> Self {
        Value::Ints(values.to_vec())
    }
}

impl From<Vec<String>> for Value {
    fn from(values: Vec<String>) -> Self {
        Value::Texts(values)
    }
}

impl From<&[String]> for Value {
    fn from(values: &[String]) -> Self {
        Value::Texts(values.to_vec())
    }
}

/// Ids are bound as their text; this is where a typed id becomes a string again.
impl<Id: SlackId> From<&Id> for Value {
    fn from(id: &Id) -> Self {
        Value::Text(Some(id.as_str().to_owned()))
    }
}

impl<Id: SlackId> From<Option<&Id>> for Value {
    fn from(id: Option<&Id>) -> Self {
        Value::Text(id.map(|id| id.as_str().to_owned()))
    }
}

impl From<InsightNumber> for Value {
    fn from(number: InsightNumber) -> Self {
        Value::Int(Some(number.get()))
    }
}

/// SQL text with `$1`, `$2`, … parameters, and their values in order. Both dialects read `$n`;
/// a parameter may appear more than once.
#[derive(Debug, Clone, Default)]
pub struct Statement {
    sql: Cow<'static, str>,
    values: Vec<Value>,
}

impl Statement {
    pub fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Self {
            sql: sql.into(),
            values: Vec::new(),
        }
    }

    /// Binds the next parameter.
    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        self.values.push(value.into());
        self
    }

    /// Binds the next parameter and returns its placeholder, for SQL put together piece by
    /// piece.
    pub fn param(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        format!("${}", self.values.len())
    }

    /// Appends SQL text.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.to_mut().push_str(sql);
        self
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub fn values(&self) -> &[Value] {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_number_their_parameters_in_order() {
        let mut statement = Statement::new("SELECT 1 WHERE a = ");
        let a = statement.param(7_i64);
        statement.push(&a).push(" AND b = ");
        let b = statement.param("x");
        statement.push(&b);
        assert_eq!(statement.sql(), "SELECT 1 WHERE a = $1 AND b = $2");
        assert_eq!(
            statement.values(),
            [Value::Int(Some(7)), Value::Text(Some("x".into()))]
        );
    }

    #[test]
    fn nulls_keep_their_type() {
        let statement = Statement::new("$1 $2").bind(None::<i64>).bind(None::<&str>);
        assert_eq!(statement.values(), [Value::Int(None), Value::Text(None)]);
    }
}
