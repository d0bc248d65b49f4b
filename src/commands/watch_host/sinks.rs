//! Where the reports go besides stdout: NATS (the JSON document on a
//! subject), the node_exporter textfile and CloudWatch, each a
//! [`Sink`] behind the shared [`crate::commands::delivery`] queues, so a
//! failing one is retried with backoff and logged and never holds up the
//! collection or the other sinks. (The Prometheus listener is not a sink:
//! it serves the latest text when asked.)

use super::report::Report;
use crate::civil::rfc3339_millis;
use crate::commands::alerting::NatsPublisher;
use crate::commands::delivery::{Item, Sink};

impl Item for Report {
    fn what(&self) -> String {
        format!("the report of {}", rfc3339_millis(self.time))
    }
}

/// Publishes each report's JSON on a subject.
pub struct NatsReports(pub NatsPublisher);

impl Sink<Report> for NatsReports {
    fn name(&self) -> String {
        self.0.name()
    }

    fn deliver(&mut self, report: &Report) -> Result<(), String> {
        self.0.publish(report.json().to_string().as_bytes())
    }
}

/// Log a line on stderr (control characters escaped).
pub fn log(line: String) {
    crate::commands::alerting::log_for("watch-host", &line);
}
