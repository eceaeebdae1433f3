//! The Prometheus text exposition format (0.0.4), by hand: a dozen series need no crate.

use std::fmt::{Display, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What `/metrics` answers with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One scrape's text, family by family.
#[derive(Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts a family: its help and type lines. Samples of it follow.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    pub fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: impl Display,
    ) -> &mut Self {
        self.text.push_str(name);
        if !labels.is_empty() {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(key, value)| format!("{key}=\"{}\"", escape(value)))
                .collect();
            let _ = write!(self.text, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(self.text, " {value}");
        self
    }

    pub fn histogram(&mut self, name: &str, help: &str, histogram: &Histogram) -> &mut Self {
        self.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, count) in histogram.bounds.iter().zip(&histogram.counts) {
            cumulative += count.load(Ordering::Relaxed);
            self.sample(&bucket, &[("le", &bound.to_string())], cumulative);
        }
        let count = histogram.count.load(Ordering::Relaxed);
        self.sample(&bucket, &[("le", "+Inf")], count);
        let sum = Duration::from_micros(histogram.sum_micros.load(Ordering::Relaxed));
        self.sample(&format!("{name}_sum"), &[], sum.as_secs_f64());
        self.sample(&format!("{name}_count"), &[], count)
    }

    pub fn finish(self) -> String {
        self.text
    }
}

/// Label values may hold anything; these three characters would break the line.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// A latency histogram in seconds, safe to observe from many tasks at once.
pub struct Histogram {
    /// Upper bounds of the buckets, ascending; `+Inf` is implied.
    bounds: &'static [f64],
    /// Per bucket (not cumulative): observations above the previous bound, up to this one.
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|bound| seconds <= *bound) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_escape_label_values() {
        let mut out = Exposition::default();
        out.family("x_total", "counter", "Things.")
            .sample("x_total", &[("a", "q\"b\\n\nl")], 3);
        assert_eq!(
            out.finish(),
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"q\\\"b\\\\n\\nl\"} 3\n"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_inf_counts_everything() {
        let histogram = Histogram::new(&[0.01, 0.1]);
        for ms in [5, 50, 60, 2000] {
            histogram.observe(Duration::from_millis(ms));
        }
        let mut out = Exposition::default();
        out.histogram("lat_seconds", "Latency.", &histogram);
        let text = out.finish();
        for line in [
            "lat_seconds_bucket{le=\"0.01\"} 1",
            "lat_seconds_bucket{le=\"0.1\"} 3",
            "lat_seconds_bucket{le=\"+Inf\"} 4",
            "lat_seconds_sum 2.115",
            "lat_seconds_count 4",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing in\n{text}"
            );
        }
    }
}
