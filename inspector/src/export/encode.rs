//! Encoding a scrape's families as OpenMetrics text with `prometheus-client`: the
//! families are handed to its registry as a collector, which writes `# HELP`, `# TYPE`,
//! `# UNIT`, the samples, and the closing `# EOF`.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::metrics::{Families, Kind, Value};

/// `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug)]
struct Scrape(Families);

fn sample(m: &mut MetricEncoder<'_>, kind: Kind, value: Value) -> Result<(), std::fmt::Error> {
    match (kind, value) {
        (Kind::Gauge, Value::Int(v)) => m.encode_gauge(&v),
        (Kind::Gauge, Value::Float(v)) => m.encode_gauge(&v),
        (Kind::Counter, Value::Int(v)) => m.encode_counter::<NoLabelSet, _, u64>(&v, None),
        (Kind::Counter, Value::Float(v)) => m.encode_counter::<NoLabelSet, _, f64>(&v, None),
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for fam in self.0.iter() {
            let unit = fam.unit.map(|u| match u {
                "bytes" => Unit::Bytes,
                "seconds" => Unit::Seconds,
                other => Unit::Other(other.to_string()),
            });
            let ty = match fam.kind {
                Kind::Gauge => MetricType::Gauge,
                Kind::Counter => MetricType::Counter,
            };
            let mut m = encoder.encode_descriptor(&fam.name, fam.help, unit.as_ref(), ty)?;
            for (labels, value) in &fam.samples {
                if labels.is_empty() {
                    sample(&mut m, fam.kind, *value)?;
                } else {
                    sample(&mut m.encode_family(labels)?, fam.kind, *value)?;
                }
            }
        }
        Ok(())
    }
}

/// The OpenMetrics text of `families`.
pub fn encode(families: Families) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape(families)));
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    use super::super::metrics::{self, EventCounts};
    use super::*;

    #[test]
    fn exposition_has_help_type_unit_and_totals() {
        let snap = crate::synthetic::Synthetic::default().snapshot(1);
        let mut f = Families::default();
        metrics::add_process(&mut f, &snap, &EventCounts::default());
        let text = encode(f);
        assert!(text.contains("# HELP slabscope_mapped_bytes Bytes the allocator mapped"));
        assert!(text.contains(
            "# TYPE slabscope_mapped_bytes gauge\n# UNIT slabscope_mapped_bytes bytes\n"
        ));
        assert!(text.contains("# TYPE slabscope_oom counter\n"));
        assert!(text.contains(&format!(
            "slabscope_oom_total{{pid=\"{}\",command=\"{}\"}} {}\n",
            snap.pid,
            metrics::command_label(&snap.command),
            snap.totals.oom_count
        )));
        assert!(text.contains("slabscope_fragmentation_ratio{"));
        assert!(text.ends_with("# EOF\n"));
        let mut only = Families::default();
        only.add(metrics::TARGETS, Vec::new(), Value::Int(2));
        assert!(encode(only).contains("\nslabscope_exporter_targets 2\n"));
    }
}
