//! docs/openapi.yaml must describe what the binary serves: its paths are routes, its query
//! parameters are accepted (every value their schemas allow, as a contract-testing tool would
//! generate them), and its JSON Lines schema has the export's columns.

use circlet::api::INSIGHTS_PATH;
use circlet::clock::{Clock, SystemClock};
use circlet::domain::export::COLUMNS;
use circlet::domain::tokens;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_yaml_ng::Value;

use crate::helpers::{TestApp, TestDb};

fn spec() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml"))
        .expect("openapi.yaml");
    serde_yaml_ng::from_str(&text).expect("openapi.yaml is YAML")
}

/// An app on a fresh SQLite database and an export API token for it.
async fn app_with_token() -> (TestApp, String) {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let issued = tokens::issue(
        app.store.tokens().as_ref(),
        "spec",
        None,
        SystemClock.now_millis(),
    )
    .await
    .unwrap();
    (app, issued.token)
}

#[test]
fn the_spec_documents_the_insights_route_and_every_export_column() {
    let spec = spec();
    let paths: Vec<&str> = spec["paths"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(paths, vec![INSIGHTS_PATH]);
    let schema = &spec["components"]["schemas"]["Insight"];
    let required: Vec<&str> = schema["required"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, COLUMNS.to_vec(), "JSON Lines keys, in export order");
    let properties: Vec<&str> = schema["properties"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(properties, COLUMNS.to_vec());
}

#[tokio::test]
async fn every_documented_parameter_and_answer_is_what_the_server_does() {
    let (app, token) = app_with_token().await;
    let spec = spec();
    let operation = &spec["paths"][INSIGHTS_PATH]["get"];
    let example = |name: &str| match name {
        "format" => "jsonl",
        "since" => "2026-01-01",
        "until" => "2026-01-31T00:00:00Z",
        "tag" => "bug",
        "channel" => "C0123ABCD",
        "status" => "shipped",
        "after_id" => "10",
        other => panic!("the spec documents {other}, which this test does not know"),
    };
    let documented: Vec<&str> = operation["parameters"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(documented.len(), 7);
    let url = format!("{}{INSIGHTS_PATH}", app.base_url);
    for name in &documented {
        let with = |value: &str| format!("{url}?{}", serde_urlencoded::to_string([(*name, value)]).unwrap());
        let response = app
            .http
            .get(with(example(name)))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{name} is accepted");
        let bad = app
            .http
            .get(with("?bad?"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = bad.status().as_u16().to_string();
        assert!(
            operation["responses"][status.as_str()].is_mapping(),
            "{name}: answer {status} is documented"
        );
        assert_eq!(status, "400", "{name}: a bad value is refused");
    }
    let unauthorised = app.http.get(&url).send().await.unwrap();
    assert_eq!(unauthorised.status(), 401);
    assert!(operation["responses"]["401"].is_mapping());
}

/// Values `schema` allows, as a generator working from the document would make them: an enum's
/// values, integers between the bounds (the bounds themselves often), strings of a `format` or
/// matching a `pattern`, and any string at all when the schema says no more than `string`.
fn allowed(schema: &Value) -> BoxedStrategy<String> {
    if let Some(options) = schema["anyOf"].as_sequence().or(schema["oneOf"].as_sequence()) {
        return proptest::strategy::Union::new(options.iter().map(allowed)).boxed();
    }
    if let Some(values) = schema["enum"].as_sequence() {
        let values: Vec<String> = values.iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        return proptest::sample::select(values).boxed();
    }
    match schema["type"].as_str() {
        Some("integer") => {
            // JSON numbers have no bounds of their own: beyond any machine integer unless the
            // schema sets them.
            let bound = |key: &str, unbounded: i128| schema[key].as_i64().map_or(unbounded, i128::from);
            let (min, max) = (
                bound("minimum", -(10_i128.pow(20))),
                bound("maximum", 10_i128.pow(20)),
            );
            prop_oneof![Just(min), Just(max), min..=max]
                .prop_map(|n| n.to_string())
                .boxed()
        }
        Some("string") => match (schema["format"].as_str(), schema["pattern"].as_str()) {
            (Some("date"), _) => date().boxed(),
            (Some("date-time"), _) => date_time().boxed(),
            (Some(format), _) => panic!("the spec uses format {format}, which this test cannot generate"),
            (None, Some(pattern)) => matching(pattern),
            (None, None) => any::<String>().boxed(),
        },
        other => panic!("the spec uses type {other:?}, which this test cannot generate"),
    }
}

/// Strings a JSON Schema `pattern` accepts: it matches anywhere unless anchored, so an
/// unanchored end gets any text around the match.
fn matching(pattern: &str) -> BoxedStrategy<String> {
    let (start, core) = match pattern.strip_prefix('^') {
        Some(core) => ("", core),
        None => (".*", pattern),
    };
    let (core, end) = match core.strip_suffix('$') {
        Some(core) => (core, ""),
        None => (core, ".*"),
    };
    proptest::string::string_regex(&format!("{start}(?:{core}){end}"))
        .unwrap_or_else(|err| panic!("pattern {pattern}: {err}"))
        .boxed()
}

fn is_day(year: u32, month: u32, day: u32) -> bool {
    chrono::NaiveDate::from_ymd_opt(year as i32, month, day).is_some()
}

/// An RFC 3339 `full-date`: any valid day of the years 0000 to 9999, the first and the last
/// year and leap days often.
fn date() -> impl Strategy<Value = String> {
    let year = prop_oneof![Just(0_u32), Just(9999), 0..=9999_u32];
    let any_day = (year, 1..=12_u32, 1..=31_u32).prop_map(|(year, month, day)| {
        let last = (28..=31).rev().find(|last| is_day(year, month, *last)).unwrap();
        (year, month, day.min(last))
    });
    let leap_day = (0..=2499_u32)
        .prop_map(|n| n * 4)
        .prop_filter("a leap year", |year| is_day(*year, 2, 29))
        .prop_map(|year| (year, 2, 29));
    prop_oneof![3 => any_day, 1 => leap_day]
        .prop_map(|(year, month, day)| format!("{year:04}-{month:02}-{day:02}"))
}

/// An RFC 3339 `date-time`: `T` or `t`, a leap second now and then, 1 to 12 fractional digits
/// or none, and `Z`, `z` or an offset from -23:59 to +23:59.
fn date_time() -> impl Strategy<Value = String> {
    let time = (
        0..=23_u32,
        0..=59_u32,
        prop_oneof![9 => 0..=59_u32, 1 => Just(60)],
        proptest::option::of("[0-9]{1,12}"),
    )
        .prop_map(|(hour, minute, second, fraction)| {
            let fraction = fraction.map(|digits| format!(".{digits}")).unwrap_or_default();
            format!("{hour:02}:{minute:02}:{second:02}{fraction}")
        });
    let offset = prop_oneof![
        Just("Z".to_owned()),
        Just("z".to_owned()),
        (proptest::sample::select(vec!['+', '-']), 0..=23_u32, 0..=59_u32)
            .prop_map(|(sign, hours, minutes)| format!("{sign}{hours:02}:{minutes:02}")),
    ];
    (date(), proptest::sample::select(vec!['T', 't']), time, offset)
        .prop_map(|(date, separator, time, offset)| format!("{date}{separator}{time}{offset}"))
}

/// Every query the document allows: each parameter present or not, with a value its schema
/// allows, whatever the others are (a `since` after `until` included).
#[test]
fn every_query_the_document_allows_is_answered_200() {
    let spec = spec();
    let parameters: Vec<(String, BoxedStrategy<String>)> = spec["paths"][INSIGHTS_PATH]["get"]["parameters"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| (p["name"].as_str().unwrap().to_owned(), allowed(&p["schema"])))
        .collect();
    assert_eq!(parameters.len(), 7);
    let query = parameters
        .into_iter()
        .map(|(name, values)| {
            proptest::option::of(values).prop_map(move |value| value.map(|v| (name.clone(), v)))
        })
        .collect::<Vec<_>>()
        .prop_map(|pairs| {
            serde_urlencoded::to_string(pairs.into_iter().flatten().collect::<Vec<_>>()).unwrap()
        });

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (app, token) = runtime.block_on(app_with_token());
    let url = format!("{}{INSIGHTS_PATH}", app.base_url);
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let outcome = runner.run(&query, |query| {
        let (status, body) = runtime.block_on(async {
            let response = app
                .http
                .get(format!("{url}?{query}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            (response.status(), response.text().await.unwrap_or_default())
        });
        if status == 200 {
            Ok(())
        } else {
            Err(TestCaseError::fail(format!("?{query} → {status} {body}")))
        }
    });
    if let Err(failure) = outcome {
        panic!("a query the document allows is refused: {failure}");
    }
    drop(app);
}
