//! docs/openapi.yaml must describe what the binary serves: its paths are routes, its query
//! parameters are accepted, and its JSON Lines schema has the export's columns.

use circlet::api::INSIGHTS_PATH;
use circlet::clock::{Clock, SystemClock};
use circlet::domain::export::COLUMNS;
use circlet::domain::tokens;
use serde_yaml_ng::Value;

use crate::helpers::{TestApp, TestDb};

fn spec() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml"))
        .expect("openapi.yaml");
    serde_yaml_ng::from_str(&text).expect("openapi.yaml is YAML")
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
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let token = tokens::issue(
        app.store.tokens().as_ref(),
        "spec",
        None,
        SystemClock.now_millis(),
    )
    .await
    .unwrap()
    .token;
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
