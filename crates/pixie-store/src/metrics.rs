//! Metric types shared by the store and the server, over `prometheus-client`: the
//! latency buckets and the histogram families built with them. (Operations, not
//! protocol: it lives beside the store's own latency metrics, not in `pixie-core`.)

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

pub use prometheus_client;

/// Latency bucket bounds, in seconds.
pub const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A latency histogram with [`BUCKETS`].
pub fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Latency histograms by label set `L`, each with [`BUCKETS`].
pub type LatencyFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// An empty [`LatencyFamily`].
pub fn latency_family<L: Clone + std::hash::Hash + Eq>() -> LatencyFamily<L> {
    Family::new_with_constructor(latency_histogram as fn() -> Histogram)
}

/// The label of a store operation's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct OperationLabels {
    /// The operation (a method name of the store).
    pub op: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    #[test]
    fn histogram_is_cumulative_with_the_buckets() {
        let family = latency_family::<OperationLabels>();
        let h = family.get_or_create(&OperationLabels { op: "x" });
        h.observe(0.00005);
        h.observe(0.003);
        h.observe(9.0);
        drop(h);
        let mut registry = Registry::default();
        registry.register("x", "help", family);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        assert!(out.contains("x_bucket{le=\"0.0001\",op=\"x\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.005\",op=\"x\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"2.5\",op=\"x\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\",op=\"x\"} 3\n"), "{out}");
        assert!(out.contains("x_count{op=\"x\"} 3\n"), "{out}");
    }
}
