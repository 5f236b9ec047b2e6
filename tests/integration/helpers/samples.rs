//! Slack's real payloads from ../shared/slack-samples.

use std::path::PathBuf;

pub fn dir(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/slack-samples")
        .join(kind)
}

pub fn read(kind: &str, file: &str) -> String {
    let path = dir(kind).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("sample {}: {err}", path.display()))
}

pub fn json(kind: &str, file: &str) -> serde_json::Value {
    serde_json::from_str(&read(kind, file)).expect("sample is JSON")
}

/// Every file of a sample folder with the given extension, sorted, as (name, contents).
pub fn all(kind: &str, extension: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir(kind))
        .expect("samples folder")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .map(|path| {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).expect("readable sample");
            (name, text)
        })
        .collect();
    files.sort();
    files
}
