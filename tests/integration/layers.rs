//! The layers point one way: cli → app → ingress, api and config → domain → store and slack →
//! the inbox → leaf types. Every top-level module of `src/` has a layer in [`LAYERS`]; a file may
//! name (by `crate::` or `super::`) only modules of lower layers, and the store takes from the
//! inbox only the queue's contract, never its writer or workers. The table is the rule: moving a
//! module up or down is a change to it, which says so in review.

mod crate_paths;

use std::path::{Path, PathBuf};

use crate_paths::crate_paths;

/// Each top-level module and its layer; a module may import only modules of lower layers, so
/// two modules of one layer (store and slack, say) may not import each other.
const LAYERS: &[(&str, u8)] = &[
    // Leaf types every layer may use.
    ("clock", 0),
    ("ids", 0),
    ("metrics", 0),
    ("secret", 0),
    ("store_error", 0),
    // Sealing tokens at rest, over the secret type.
    ("token_cipher", 1),
    // The durable queue: its rows, the store trait it owns, its writer and workers.
    ("inbox", 1),
    ("slack", 2),
    ("store", 2),
    ("domain", 3),
    // Configuration builds domain's settings; ingress, the API and the listeners call domain.
    ("api", 4),
    ("config", 4),
    ("ingress", 4),
    // "Add to Slack": the browser's redirects over domain's installs.
    ("install", 4),
    ("server", 4),
    // Socket Mode: envelopes over websockets into ingress's intake.
    ("socket", 5),
    ("telemetry", 5),
    // The probes report the sockets too.
    ("ops", 6),
    ("app", 7),
    ("fuzzing", 7),
    ("demo", 8),
    ("cli", 9),
];

/// What the store may take from the inbox: the rows it keeps and the traits it implements.
const INBOX_CONTRACT: &[&str] = &[
    "Claim",
    "InboxAppender",
    "InboxCounts",
    "InboxKind",
    "InboxRow",
    "InboxState",
    "InboxStore",
    "NewInboxItem",
    "Requeue",
    "Settlement",
];

fn layer(module: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, layer)| *layer)
}

/// What is wrong with the paths `source` names, for a file whose module is `module`.
fn violations(module: &[String], source: &str) -> Vec<String> {
    let own = module[0].as_str();
    let own_layer = layer(own).unwrap_or_else(|| panic!("{own} has no layer in LAYERS"));
    let mut found: Vec<String> = Vec::new();
    for path in crate_paths(module, source) {
        let Some(top) = path.first().map(String::as_str) else {
            continue;
        };
        let shown = format!("crate::{}", path.join("::"));
        if top == own {
            continue;
        }
        match layer(top) {
            None => found.push(format!(
                "{shown}: not a module with a layer (name it by its module)"
            )),
            Some(target) if target >= own_layer => found.push(format!(
                "{shown}: {own} (layer {own_layer}) may not import {top} (layer {target})"
            )),
            Some(_) => {}
        }
        if own == "store"
            && top == "inbox"
            && !path
                .get(1)
                .is_some_and(|item| INBOX_CONTRACT.contains(&item.as_str()))
        {
            found.push(format!(
                "{shown}: the store takes only the queue's contract from the inbox"
            ));
        }
    }
    found.sort();
    found.dedup();
    found
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src/") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// `src/domain/access.rs` is `domain::access`, `src/domain/mod.rs` is `domain`.
fn module_of(relative: &Path) -> Vec<String> {
    let mut module: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    if module.last().is_some_and(|last| last == "mod") {
        module.pop();
    }
    module
}

#[test]
fn imports_point_down_the_layers() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut found = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src()).expect("under src/");
        // The crate root and the binary sit above every layer.
        if relative == Path::new("lib.rs") || relative == Path::new("main.rs") {
            continue;
        }
        let source = std::fs::read_to_string(&file).expect("readable source");
        for problem in violations(&module_of(relative), &source) {
            found.push(format!("src/{}: {problem}", relative.display()));
        }
    }
    assert!(
        found.is_empty(),
        "imports against the layers:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_module_of_the_library_has_a_layer() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("src/lib.rs");
    let unplaced: Vec<&str> = lib
        .lines()
        .filter_map(|line| line.trim().trim_start_matches("pub ").strip_prefix("mod "))
        .filter_map(|rest| rest.strip_suffix(';'))
        .filter(|module| layer(module).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "give these modules a line in LAYERS: {unplaced:?}"
    );
}

fn module(path: &str) -> Vec<String> {
    path.split("::").map(str::to_owned).collect()
}

#[test]
fn domain_naming_app_or_config_in_any_form_breaks_the_rule() {
    for source in [
        "use crate::app::Services;",
        "use crate::{clock::Clock, app::{App, Services}};",
        "fn f() { let _ = crate::config::Config::load(None); }",
        "use super::super::app::App;",
        "#[cfg(test)]\nmod tests {\n    use super::super::super::config::Config;\n}",
    ] {
        assert!(
            !violations(&module("domain::triage"), source).is_empty(),
            "{source}"
        );
    }
}

#[test]
fn comments_strings_and_lower_layers_are_not_violations() {
    let source = r##"
        //! Built by [`crate::app::App`].
        use crate::store::{self, SharedStore};
        use super::settings::DomainSettings;
        /* crate::cli::run */
        const HINT: &str = "see crate::config";
        const RAW: &str = r#"crate::app"#;
        fn f<'a>(c: char) -> bool { c == '{' || c == '"' }
        mod tests { use super::super::slack::SlackApi; }
    "##;
    assert_eq!(
        violations(&module("domain::capture"), source),
        Vec::<String>::new()
    );
}

#[test]
fn the_store_takes_the_queue_contract_but_not_its_workers() {
    let allowed =
        "use crate::inbox::{InboxKind, NewInboxItem};\nmod tests { use super::super::sql::Dialect; }";
    assert_eq!(
        violations(&module("store::postgres"), allowed),
        Vec::<String>::new()
    );
    for source in [
        "use crate::inbox::Worker;",
        "use crate::inbox;",
        "use crate::inbox::{InboxRow, InboxWriter};",
    ] {
        assert_eq!(violations(&module("store::engine"), source).len(), 1, "{source}");
    }
}

/// Transactions in application code go through `store::transaction`, which lets the backend
/// choose the thread (SQLite's statements must not step on the runtime's threads); a
/// transaction opened with `begin()` would run them wherever its caller runs.
#[test]
fn application_code_opens_no_transaction_by_hand() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let found: Vec<String> = files
        .iter()
        .filter(|file| !file.starts_with(src().join("store")))
        .filter(|file| {
            std::fs::read_to_string(file)
                .expect("readable source")
                .lines()
                .any(|line| !line.trim_start().starts_with("//") && line.contains(".begin().await"))
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(
        found.is_empty(),
        "open transactions with store::transaction, not begin():\n{}",
        found.join("\n")
    );
}
