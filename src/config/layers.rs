//! Configuration layers, merged in order: built-in defaults, `config/default.toml`, the
//! `--config` file, the legacy environment names of the earlier Python WADM, then
//! `WADM__SECTION__KEY` variables.
//!
//! Layers are TOML trees. Tables merge key by key; any other value replaces what was there.
//! Because the first layer is the serialized built-in defaults, every key exists in the
//! tree before the environment is applied, and an environment value is converted to the
//! type of the value it replaces (`"false"` to a boolean, `"A,B"` to a list).

use std::collections::BTreeMap;
use std::path::Path;

use toml::{Table, Value};

use super::Problem;

/// Prefix of namespaced environment variables; `__` separates path segments.
pub const ENV_PREFIX: &str = "WADM__";

/// Merges `overlay` into `base`: tables recursively, anything else replaced.
pub fn merge(base: &mut Table, overlay: Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(existing)), Value::Table(incoming)) => merge(existing, incoming),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Reads a TOML file as a layer. Problems are named after the file.
pub fn read_file(path: &Path) -> Result<Table, Problem> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        Problem::new(path.display().to_string(), format!("cannot be read: {err}"))
    })?;
    text.parse::<Table>().map_err(|err| {
        Problem::new(
            path.display().to_string(),
            format!("is not valid TOML: {}", err.to_string().trim()),
        )
    })
}

/// Applies the environment to `tree`: first the legacy names, then `WADM__` variables.
pub fn apply_env(tree: &mut Table, env: &BTreeMap<String, String>, problems: &mut Vec<Problem>) {
    apply_legacy_env(tree, env, problems);
    for (name, value) in env {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let segments: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
        if segments.iter().any(String::is_empty) {
            problems.push(Problem::new(
                format!("env {name}"),
                "has an empty path segment".into(),
            ));
            continue;
        }
        if let Err(message) = set_path(tree, &segments, value) {
            problems.push(Problem::new(format!("env {name}"), message));
        }
    }
}

/// The environment names of the earlier Python WADM that the loader reads (besides the
/// `WADM__SECTION__KEY` variables).
pub const LEGACY_VARIABLES: [&str; 7] = [
    "BINANCE_SYMBOLS",
    "BYBIT_SYMBOLS",
    "COLLECTORS_ENABLED",
    "RETENTION_RAW_TRADES",
    "RETENTION_AGGREGATES_1M",
    "RETENTION_AGGREGATES_1H",
    "MONGODB_URI",
];

/// Venue tables that a legacy exchange-wide variable applies to.
const BINANCE_VENUES: [&str; 2] = ["binance-spot", "binance-usdm"];
const BYBIT_VENUES: [&str; 2] = ["bybit-spot", "bybit-linear"];

/// The names deployments of the earlier Python WADM use:
/// - `BINANCE_SYMBOLS`, `BYBIT_SYMBOLS`: comma lists, for both venues of that exchange;
/// - `COLLECTORS_ENABLED`: `true`/`false` for all venues, or a comma list of the venues to
///   enable (`binance` and `bybit` name the spot venues) with the others disabled;
/// - `RETENTION_RAW_TRADES`, `RETENTION_AGGREGATES_1M`, `RETENTION_AGGREGATES_1H`: seconds;
/// - `MONGODB_URI`: the MongoDB connection string.
fn apply_legacy_env(tree: &mut Table, env: &BTreeMap<String, String>, problems: &mut Vec<Problem>) {
    let mut set = |path: &[&str], value: Value| {
        let segments: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
        set_value(tree, &segments, value);
    };
    for (variable, venues) in [
        ("BINANCE_SYMBOLS", BINANCE_VENUES),
        ("BYBIT_SYMBOLS", BYBIT_VENUES),
    ] {
        if let Some(list) = env.get(variable) {
            for venue in venues {
                set(&["venues", venue, "symbols"], comma_list(list));
            }
        }
    }
    if let Some(collectors) = env.get("COLLECTORS_ENABLED") {
        match parse_bool(collectors) {
            Some(false) => {
                for venue in BINANCE_VENUES.into_iter().chain(BYBIT_VENUES) {
                    set(&["venues", venue, "enabled"], Value::Boolean(false));
                }
            }
            Some(true) => {}
            None => {
                let mut enabled = Vec::new();
                for item in collectors
                    .split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                {
                    match collector_venue(item) {
                        Some(venue) => enabled.push(venue),
                        None => problems.push(Problem::new(
                            "env COLLECTORS_ENABLED".into(),
                            format!("unknown collector {item:?}: expected true, false, or a comma list of binance, bybit, binance-spot, binance-usdm, bybit-spot, bybit-linear"),
                        )),
                    }
                }
                for venue in BINANCE_VENUES.into_iter().chain(BYBIT_VENUES) {
                    set(
                        &["venues", venue, "enabled"],
                        Value::Boolean(enabled.contains(&venue)),
                    );
                }
            }
        }
    }
    for (variable, key) in [
        ("RETENTION_RAW_TRADES", "raw_trades"),
        ("RETENTION_AGGREGATES_1M", "bars_1m"),
        ("RETENTION_AGGREGATES_1H", "bars_1h"),
        ("RETENTION_AGGREGATES_1D", "bars_1d"),
    ] {
        if let Some(seconds) = env.get(variable) {
            match seconds.trim().parse::<u64>() {
                Ok(seconds) => set(&["retention", key], Value::String(format!("{seconds}s"))),
                Err(_) => problems.push(Problem::new(
                    format!("env {variable}"),
                    format!("must be a whole number of seconds, got {seconds:?}"),
                )),
            }
        }
    }
    if let Some(uri) = env.get("MONGODB_URI") {
        set(&["storage", "mongodb", "uri"], Value::String(uri.clone()));
    }
}

fn collector_venue(item: &str) -> Option<&'static str> {
    let normalized = item.to_ascii_lowercase().replace('_', "-");
    match normalized.as_str() {
        "binance" | "binance-spot" => Some("binance-spot"),
        "binance-usdm" => Some("binance-usdm"),
        "bybit" | "bybit-spot" => Some("bybit-spot"),
        "bybit-linear" => Some("bybit-linear"),
        _ => None,
    }
}

fn comma_list(text: &str) -> Value {
    Value::Array(
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| Value::String(item.to_owned()))
            .collect(),
    )
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Two keys name the same entry if they are equal ignoring ASCII case, with `-` and `_`
/// equivalent (so `BINANCE_SPOT` finds `binance-spot`).
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).all(|(x, y)| {
            let norm = |c: u8| {
                if c == b'-' {
                    b'_'
                } else {
                    c.to_ascii_lowercase()
                }
            };
            norm(x) == norm(y)
        })
}

/// Sets the value at `segments` from an environment string, converted to the type of the
/// value it replaces.
fn set_path(tree: &mut Table, segments: &[String], text: &str) -> Result<(), String> {
    let (last, parents) = segments.split_last().ok_or("has no path")?;
    let mut table = tree;
    for segment in parents {
        let key = table
            .keys()
            .find(|key| same_key(key, segment))
            .cloned()
            .unwrap_or_else(|| segment.clone());
        let entry = table
            .entry(key.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{key}` is not a table"))?;
    }
    let key = table
        .keys()
        .find(|key| same_key(key, last))
        .cloned()
        .unwrap_or_else(|| last.clone());
    let value = convert(table.get(&key), text)?;
    table.insert(key, value);
    Ok(())
}

/// Sets a typed value at a path of exact keys, creating tables on the way.
fn set_value(tree: &mut Table, segments: &[String], value: Value) {
    let Some((last, parents)) = segments.split_last() else {
        return;
    };
    let mut table = tree;
    for segment in parents {
        let entry = table
            .entry(segment.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        let Some(next) = entry.as_table_mut() else {
            return;
        };
        table = next;
    }
    table.insert(last.clone(), value);
}

/// Converts an environment string to the type of `existing`; a new key becomes a boolean
/// or an integer if it reads as one, else a string (never a float: decimals stay exact).
fn convert(existing: Option<&Value>, text: &str) -> Result<Value, String> {
    match existing {
        Some(Value::Boolean(_)) => parse_bool(text)
            .map(Value::Boolean)
            .ok_or_else(|| format!("expected true or false, got {text:?}")),
        Some(Value::Integer(_)) => text
            .trim()
            .parse()
            .map(Value::Integer)
            .map_err(|_| format!("expected a whole number, got {text:?}")),
        Some(Value::Float(_)) => text
            .trim()
            .parse()
            .map(Value::Float)
            .map_err(|_| format!("expected a number, got {text:?}")),
        Some(Value::Array(_)) => Ok(comma_list(text)),
        Some(Value::Table(_)) => Err("names a table, not a value".into()),
        Some(Value::String(_) | Value::Datetime(_)) => Ok(Value::String(text.to_owned())),
        None => Ok(parse_bool(text)
            .filter(|_| text.chars().all(char::is_alphabetic))
            .map(Value::Boolean)
            .or_else(|| text.parse().ok().map(Value::Integer))
            .unwrap_or_else(|| Value::String(text.to_owned()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        text.parse().unwrap()
    }

    #[test]
    fn every_listed_legacy_variable_is_read() {
        for name in LEGACY_VARIABLES {
            let value = match name {
                "COLLECTORS_ENABLED" => "false",
                "MONGODB_URI" => "mongodb://127.0.0.1:1/",
                name if name.starts_with("RETENTION_") => "123",
                _ => "DOGEUSDT",
            };
            let mut tree = Table::new();
            let mut problems = Vec::new();
            let env = BTreeMap::from([(name.to_owned(), value.to_owned())]);
            apply_legacy_env(&mut tree, &env, &mut problems);
            assert!(problems.is_empty(), "{name}: {problems:?}");
            assert!(!tree.is_empty(), "{name} is listed but not read");
        }
    }

    #[test]
    fn merges_tables_and_replaces_values() {
        let mut base = table("a = 1\nlist = [1, 2]\n[t]\nx = 1\ny = 2\n");
        merge(&mut base, table("list = [3]\n[t]\ny = 5\nz = 6\n"));
        assert_eq!(base, table("a = 1\nlist = [3]\n[t]\nx = 1\ny = 5\nz = 6\n"));
    }

    #[test]
    fn env_values_take_the_type_of_what_they_replace() {
        let mut tree = table(
            "[venues.binance-spot]\nenabled = true\nsymbols = [\"A\"]\nws_url = \"x\"\n[supervision]\nmultiplier = 2.0\nmax_restarts = 3\n",
        );
        let env = BTreeMap::from([
            (
                "WADM__VENUES__BINANCE_SPOT__ENABLED".to_owned(),
                "false".to_owned(),
            ),
            (
                "WADM__VENUES__BINANCE_SPOT__SYMBOLS".to_owned(),
                "btcusdt, ETHUSDT,".to_owned(),
            ),
            (
                "WADM__VENUES__BINANCE_SPOT__WS_URL".to_owned(),
                "ws://127.0.0.1:9".to_owned(),
            ),
            ("WADM__SUPERVISION__MULTIPLIER".to_owned(), "1.5".to_owned()),
            ("WADM__SUPERVISION__MAX_RESTARTS".to_owned(), "7".to_owned()),
            (
                "WADM__SYMBOLS__DOGEUSDT__ROW_SIZE".to_owned(),
                "0.0001".to_owned(),
            ),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ]);
        let mut problems = Vec::new();
        apply_env(&mut tree, &env, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let expected = table(
            "[venues.binance-spot]\nenabled = false\nsymbols = [\"btcusdt\", \"ETHUSDT\"]\nws_url = \"ws://127.0.0.1:9\"\n[supervision]\nmultiplier = 1.5\nmax_restarts = 7\n[symbols.dogeusdt]\nrow_size = \"0.0001\"\n",
        );
        assert_eq!(tree, expected);
    }

    #[test]
    fn env_type_mismatches_are_problems_naming_the_variable() {
        let mut tree = table("[api]\nenabled = true\ncount = 1\n");
        let env = BTreeMap::from([
            ("WADM__API__ENABLED".to_owned(), "maybe".to_owned()),
            ("WADM__API__COUNT".to_owned(), "1.5".to_owned()),
            ("WADM__API".to_owned(), "x".to_owned()),
            ("WADM__API____X".to_owned(), "x".to_owned()),
        ]);
        let mut problems = Vec::new();
        apply_env(&mut tree, &env, &mut problems);
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "env WADM__API",
                "env WADM__API__COUNT",
                "env WADM__API__ENABLED",
                "env WADM__API____X"
            ]
        );
    }

    #[test]
    fn legacy_names_set_symbols_collectors_retention_and_mongodb() {
        let mut tree = Table::new();
        let env = BTreeMap::from([
            ("BINANCE_SYMBOLS".to_owned(), "BTCUSDT,ETHUSDT".to_owned()),
            ("BYBIT_SYMBOLS".to_owned(), "SOLUSDT".to_owned()),
            (
                "COLLECTORS_ENABLED".to_owned(),
                "binance, bybit_linear".to_owned(),
            ),
            ("RETENTION_RAW_TRADES".to_owned(), "7200".to_owned()),
            ("RETENTION_AGGREGATES_1M".to_owned(), "86400".to_owned()),
            ("RETENTION_AGGREGATES_1H".to_owned(), "604800".to_owned()),
            ("MONGODB_URI".to_owned(), "mongodb://u:p@h/db".to_owned()),
        ]);
        let mut problems = Vec::new();
        apply_env(&mut tree, &env, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let venues = tree["venues"].as_table().unwrap();
        let enabled: Vec<bool> = ["binance-spot", "binance-usdm", "bybit-spot", "bybit-linear"]
            .iter()
            .map(|v| venues[*v]["enabled"].as_bool().unwrap())
            .collect();
        assert_eq!(enabled, [true, false, false, true]);
        assert_eq!(
            venues["binance-usdm"]["symbols"],
            Value::Array(vec!["BTCUSDT".into(), "ETHUSDT".into()])
        );
        assert_eq!(
            venues["bybit-linear"]["symbols"],
            Value::Array(vec!["SOLUSDT".into()])
        );
        assert_eq!(tree["retention"]["raw_trades"].as_str(), Some("7200s"));
        assert_eq!(tree["retention"]["bars_1m"].as_str(), Some("86400s"));
        assert_eq!(tree["retention"]["bars_1h"].as_str(), Some("604800s"));
        assert_eq!(
            tree["storage"]["mongodb"]["uri"].as_str(),
            Some("mongodb://u:p@h/db")
        );
    }

    #[test]
    fn collectors_enabled_accepts_a_master_switch_and_reports_unknown_names() {
        let mut tree = Table::new();
        let mut problems = Vec::new();
        apply_env(
            &mut tree,
            &BTreeMap::from([("COLLECTORS_ENABLED".to_owned(), "false".to_owned())]),
            &mut problems,
        );
        assert!(
            tree["venues"]
                .as_table()
                .unwrap()
                .values()
                .all(|v| v["enabled"].as_bool() == Some(false))
        );
        apply_env(
            &mut tree,
            &BTreeMap::from([("COLLECTORS_ENABLED".to_owned(), "kraken".to_owned())]),
            &mut problems,
        );
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("kraken"));
        apply_env(
            &mut tree,
            &BTreeMap::from([("RETENTION_RAW_TRADES".to_owned(), "1h".to_owned())]),
            &mut problems,
        );
        assert_eq!(problems.len(), 2);
    }

    #[test]
    fn namespaced_variables_win_over_legacy_names() {
        let mut tree = Table::new();
        let env = BTreeMap::from([
            ("BINANCE_SYMBOLS".to_owned(), "BTCUSDT".to_owned()),
            (
                "WADM__VENUES__BINANCE_SPOT__SYMBOLS".to_owned(),
                "ETHUSDT".to_owned(),
            ),
        ]);
        apply_env(&mut tree, &env, &mut Vec::new());
        assert_eq!(
            tree["venues"]["binance-spot"]["symbols"],
            Value::Array(vec!["ETHUSDT".into()])
        );
    }
}
