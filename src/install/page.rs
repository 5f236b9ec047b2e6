//! The short HTML page a failed install shows: what happened and a link to start again.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::INSTALL_PATH;

/// A page saying `what` happened, linking to [`INSTALL_PATH`].
pub(super) fn failure(status: StatusCode, what: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Circlet: not installed</title></head>\n\
         <body><h1>Circlet was not installed</h1>\n<p>{}</p>\n\
         <p><a href=\"{INSTALL_PATH}\">Add Circlet to Slack again</a></p></body></html>\n",
        escape(what)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // The page's URL holds Slack's code; the link must not carry it along.
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_happened_is_escaped() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
