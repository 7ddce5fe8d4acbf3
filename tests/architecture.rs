//! The dependency rules of the actors crate, checked on its source:
//!
//! - `model/` (plain data) and `aggregator/` (indicator maths and its actor) do not use
//!   `crate::connection` (venue protocols): data flows from connections to aggregators
//!   through the model and the routing table, never back.
//! - `storage/` and `persistence/` use nothing of the aggregator's maths: they store the
//!   records the aggregator built (`BarRecord`, `BookRecord`, `Record`) as they are. One bar
//!   contract, computed once.

use std::path::{Path, PathBuf};

fn sources(folder: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("actors/src")
        .join(folder);
    let mut found = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("a source file");
                found.push((path, text));
            }
        }
    }
    assert!(!found.is_empty(), "no source under {}", root.display());
    found
}

/// The places in `folder` whose code mentions any of `forbidden`: a path (matched as text,
/// across the lines of a `use` item) or, for a plain name, a name a `use` item imports from
/// the aggregator, file by file.
fn uses(folder: &str, forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in sources(folder) {
        // Whole `use` items (they may span lines) and every other line.
        let mut statement = String::new();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            statement.push_str(code);
            if !statement.trim_start().starts_with("use ") || code.contains(';') {
                let flat: String = statement.split_whitespace().collect();
                let identifiers: Vec<&str> = flat
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .collect();
                for needle in forbidden {
                    let is_name = needle.chars().all(|c| c.is_alphanumeric() || c == '_');
                    let hit = if is_name {
                        flat.starts_with("use")
                            && flat.contains("aggregator")
                            && identifiers.contains(needle)
                    } else {
                        flat.contains(needle)
                    };
                    if hit {
                        found.push(format!("{}:{}: {needle}", path.display(), number + 1));
                    }
                }
                statement.clear();
            }
        }
    }
    found
}

#[test]
fn the_model_and_the_aggregators_do_not_use_the_connections() {
    for folder in ["model", "aggregator"] {
        let found = uses(folder, &["crate::connection", "super::super::connection"]);
        assert!(found.is_empty(), "{folder}/ uses connection/: {found:?}");
    }
}

#[test]
fn storage_and_persistence_use_no_indicator_maths() {
    // What they may take from the aggregator: the records and the timeframe that keys them.
    let maths = [
        "aggregator::engine",
        "aggregator::footprint",
        "aggregator::volume_profile",
        "aggregator::order_flow",
        "aggregator::report",
        "aggregator::bar",
        "aggregator::aggregation",
        "aggregator::kline_check",
        "aggregator::book_stats",
        "aggregator::ledger",
        "aggregator::warm",
        "Bar",
        "Engine",
        "WindowReport",
        "AbsorptionRow",
        "Footprint",
        "RowGrid",
        "WindowReport::of",
        "AbsorptionRow::of_bar",
        "BarRecord::build",
        "order_flow::",
        "volume_profile::",
    ];
    for folder in ["storage", "persistence"] {
        let found = uses(folder, &maths);
        assert!(found.is_empty(), "{folder}/ computes indicators: {found:?}");
    }
}

#[test]
fn the_check_finds_what_it_looks_for() {
    // The scan itself is checked on a folder that does use the maths.
    assert!(!uses("aggregator", &["WindowReport::of"]).is_empty());
    assert!(!uses("api", &["crate::aggregator"]).is_empty());
    assert!(
        !uses("api", &["WindowReport"]).is_empty(),
        "a name imported from the aggregator in a multi-line use item"
    );
}
