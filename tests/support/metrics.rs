//! Scraping `/metrics` in tests: the text format parsed into series, and the metric names
//! `docs/operations.md` documents.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use crate::http;

/// One scrape: every sample by its series (`name{label="value",…}` as written), and every
/// family with its type.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub samples: BTreeMap<String, f64>,
    pub families: BTreeMap<String, String>,
}

impl Scrape {
    /// The sample of `name` with exactly `labels` (in any order); 0 when absent.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .find(|(series, _)| matches(series, name, labels))
            .map_or(0.0, |(_, v)| *v)
    }

    /// Whether a series of `name` with exactly `labels` exists.
    pub fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.samples.keys().any(|s| matches(s, name, labels))
    }

    /// The sum of every series of `name`.
    pub fn total(&self, name: &str) -> f64 {
        self.samples
            .iter()
            .filter(|(series, _)| series.split('{').next() == Some(name))
            .map(|(_, v)| v)
            .sum()
    }
}

fn matches(series: &str, name: &str, labels: &[(&str, &str)]) -> bool {
    let (series_name, rest) = series.split_once('{').unwrap_or((series, "}"));
    if series_name != name {
        return false;
    }
    let mut have: Vec<String> = rest
        .trim_end_matches('}')
        .split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let mut want: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    have.sort();
    want.sort();
    have == want
}

/// Scrapes `path` (normally `/metrics`) at `addr`.
pub async fn scrape_at(addr: SocketAddr, path: &str) -> Scrape {
    let response = http::get(addr, path, &[]).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        response.headers
    );
    parse(&response.body)
}

pub async fn scrape(addr: SocketAddr) -> Scrape {
    scrape_at(addr, "/metrics").await
}

pub fn parse(text: &str) -> Scrape {
    let mut samples = BTreeMap::new();
    let mut families = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line");
            families.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let value: f64 = value.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
        samples.insert(series.to_owned(), value);
    }
    Scrape { samples, families }
}

/// The metric names in the tables of `docs/operations.md`'s "Metrics" section: every
/// backquoted `realtime_…` or `process_…` word of a table row's first cell.
pub fn documented() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md");
    let doc = std::fs::read_to_string(path).expect("docs/operations.md");
    let start = doc.find("\n## Metrics").expect("a Metrics section");
    let section = &doc[start + 1..];
    let end = section[1..].find("\n## ").map_or(section.len(), |e| e + 1);
    let mut names = BTreeSet::new();
    for row in section[..end].lines().filter(|l| l.starts_with("| `")) {
        let first = row.split('|').nth(1).unwrap_or_default();
        for word in first.split('`').skip(1).step_by(2) {
            if word.starts_with("realtime_") || word.starts_with("process_") {
                names.insert(word.to_owned());
            }
        }
    }
    names
}
