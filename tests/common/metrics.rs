//! Scraping a server's `/metrics`, and reading one series out of the text.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;

use openmetrics_parser::openmetrics::parse_openmetrics;

/// The body of `GET /metrics` at `addr` (`ip:port`); panics unless the answer is a 200 in
/// OpenMetrics text that a parser of the format accepts.
pub fn scrape(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("metrics endpoint reachable");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    families(body);
    body.to_owned()
}

/// The metric families in `text` (a counter's without its `_total`); panics unless it parses.
pub fn families(text: &str) -> BTreeSet<String> {
    let exposition =
        parse_openmetrics(text).unwrap_or_else(|e| panic!("not OpenMetrics text ({e}):\n{text}"));
    exposition.families.into_keys().collect()
}

/// The families README's metrics table documents, named as [`families`] names them.
pub fn documented_families() -> BTreeSet<String> {
    include_str!("../../README.md")
        .lines()
        .filter_map(|line| line.strip_prefix("| `scistream_"))
        .map(|rest| {
            let name = rest.split(['`', '{']).next().unwrap_or_default();
            let family = name.strip_suffix("_total").unwrap_or(name);
            format!("scistream_{family}")
        })
        .collect()
}

/// The value of one series, e.g. `scistream_sessions{role="PROD"}`; panics if it is absent.
pub fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .parse()
        .unwrap()
}
