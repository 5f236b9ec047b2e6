//! Reading a call's parameters as Slack accepts them: query string, form fields or a JSON body.

use axum::http::{HeaderMap, header};
use serde_json::Value;

use super::Params;

pub(super) fn value_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A parameter as a string, if present and not null.
pub(super) fn param_str(params: &Params, key: &str) -> Option<String> {
    params.get(key).filter(|v| !v.is_null()).map(value_string)
}

/// A parameter as a non-empty string.
pub(super) fn required(params: &Params, key: &str) -> Option<String> {
    param_str(params, key).filter(|s| !s.trim().is_empty())
}

pub(super) fn bool_param(params: &Params, key: &str) -> bool {
    match params.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        Some(Value::String(s)) => s == "true" || s == "1",
        _ => false,
    }
}

/// A parameter that holds JSON, either directly or as a JSON-encoded string.
pub(super) fn json_param(params: &Params, key: &str) -> Option<Value> {
    match params.get(key)? {
        Value::String(s) => serde_json::from_str(s).ok(),
        other => Some(other.clone()),
    }
}

pub(super) fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim().to_owned())
}

/// Merges query, form and JSON body params; `None` when any part cannot be parsed.
pub(super) fn parse_params(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Option<Params> {
    let mut params = match query {
        Some(query) => parse_form(query.as_bytes())?,
        None => Params::new(),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(params);
    }
    let body_params = if is_json(headers, body) {
        parse_json_object(body)?
    } else {
        parse_form(body)?
    };
    params.extend(body_params);
    Some(params)
}

pub(super) fn is_json(headers: &HeaderMap, body: &[u8]) -> bool {
    match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        Some(content_type) => content_type.to_ascii_lowercase().contains("json"),
        None => body.trim_ascii_start().starts_with(b"{"),
    }
}

pub(super) fn parse_json_object(body: &[u8]) -> Option<Params> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Some(fields),
        _ => None,
    }
}

pub(super) fn parse_form(bytes: &[u8]) -> Option<Params> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).ok()?;
    Some(
        pairs
            .into_iter()
            .map(|(key, value)| (key, form_value(value)))
            .collect(),
    )
}

/// A form value; values that look like JSON arrays or objects (`blocks`, `metadata`, ...) are parsed.
pub(super) fn form_value(raw: String) -> Value {
    let trimmed = raw.trim_start();
    if (trimmed.starts_with('[') || trimmed.starts_with('{'))
        && let Ok(value) = serde_json::from_str(trimmed)
    {
        return value;
    }
    Value::String(raw)
}
