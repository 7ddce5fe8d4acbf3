//! The README is a map: small, the map near the top, every path in it real, every link in
//! every README of the tree leading somewhere, and every test suite listed in tests/README.md.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The README files of the tree (build output, fuzz corpora and the test environment aside).
fn readmes() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.')
                    && !["target", "corpus", "artifacts"].contains(&name.as_str())
                {
                    walk(&path, found);
                }
            } else if name == "README.md" {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&root(), &mut found);
    found.sort();
    found
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> Vec<String> {
    let mut in_code = false;
    let mut found = Vec::new();
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            found.push(slug(line.trim_start_matches('#')));
        }
    }
    found
}

/// `(label, target)` of every inline link outside code blocks.
fn links(markdown: &str) -> Vec<(String, String)> {
    let mut in_code = false;
    let mut found = Vec::new();
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(open) = rest.find("](") {
            let label_start = rest[..open].rfind('[').map_or(0, |i| i + 1);
            let after = &rest[open + 2..];
            let Some(close) = after.find(')') else { break };
            found.push((
                rest[label_start..open].to_owned(),
                after[..close].to_owned(),
            ));
            rest = &after[close..];
        }
    }
    found
}

#[test]
fn the_readme_is_a_small_map_whose_paths_exist() {
    let readme = read(&root().join("README.md"));
    assert!(
        readme.len() < 15_000,
        "README.md is {} bytes: reference material belongs in the folder it describes",
        readme.len()
    );
    let lines: Vec<&str> = readme.lines().collect();
    let map = lines
        .iter()
        .position(|l| *l == "## Where things live")
        .expect("a map of where things live");
    assert!(
        map < 120,
        "the map starts at line {map}: keep it in the first screenfuls"
    );
    let paths: Vec<&str> = lines[map..]
        .iter()
        .skip_while(|l| !l.starts_with("| `"))
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.split('|')
                .nth(1)
                .and_then(|cell| cell.trim().strip_prefix('`'))
                .and_then(|cell| cell.strip_suffix('`'))
                .unwrap_or_else(|| panic!("a map row names one path: {l}"))
        })
        .collect();
    assert!(paths.len() >= 20, "{paths:?}");
    for path in &paths {
        assert!(
            root().join(path).exists(),
            "the map names {path}, which does not exist"
        );
    }
    let mut sorted = paths.clone();
    sorted.sort_unstable();
    assert_eq!(paths, sorted, "the map is sorted by path");
    for command in [
        "cargo run --release",
        "cargo run --release -- demo",
        "tests/run.sh",
    ] {
        assert!(
            readme.contains(&format!("```sh\n{command}\n```")),
            "the README gives `{command}`"
        );
    }
    let ci = read(&root().join(".ci/run"));
    assert!(
        ci.lines().any(|l| l.trim() == "tests/run.sh"),
        "CI runs exactly the README's test command"
    );
}

#[test]
fn every_link_of_every_readme_leads_somewhere() {
    let all = readmes();
    assert!(all.len() >= 10, "{all:?}");
    for readme in &all {
        let text = read(readme);
        let dir = readme.parent().unwrap();
        for (label, target) in links(&text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (path, fragment) = target.split_once('#').unwrap_or((&target, ""));
            let file = if path.is_empty() {
                readme.clone()
            } else {
                dir.join(path)
            };
            assert!(
                file.exists(),
                "{}: [{label}]({target}) leads nowhere",
                readme.display()
            );
            if !fragment.is_empty() && file.extension().is_some_and(|e| e == "md") {
                assert!(
                    anchors(&read(&file)).contains(&fragment.to_owned()),
                    "{}: [{label}]({target}): no heading #{fragment} in {}",
                    readme.display(),
                    file.display()
                );
            }
        }
    }
}

#[test]
fn every_repository_path_a_readme_names_exists() {
    let roots = [
        "actors/",
        "src/",
        "tests/",
        "docker/",
        "config/",
        "benches/",
        "supervision/",
    ];
    // Files the operator creates (from their `.example`).
    let created = ["docker/.env"];
    let mut missing = Vec::new();
    for readme in readmes() {
        let text = read(&readme);
        for (index, quoted) in text.split('`').enumerate() {
            let path = quoted.trim_end_matches(['/', ':']);
            if index % 2 == 0
                || !roots.iter().any(|r| quoted.starts_with(r))
                || path.contains(['*', '<', ' ', '{'])
                || created.contains(&path)
            {
                continue;
            }
            if !root().join(path).exists() {
                missing.push(format!("{}: `{quoted}`", readme.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "paths that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_test_suite_is_listed_in_the_tests_readme() {
    let listing = read(&root().join("tests/README.md"));
    for entry in std::fs::read_dir(root().join("tests"))
        .unwrap()
        .map(Result::unwrap)
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") {
            assert!(
                listing.contains(&format!("`{name}`")),
                "tests/{name} is not described in tests/README.md"
            );
        }
    }
}
