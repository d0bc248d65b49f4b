//! The CloudWatch sink: each report's samples as custom metrics, sent with
//! `PutMetricData` (the Query API: a form POST, signed with SigV4) to
//! `monitoring.<region>.amazonaws.com` or `--cw-endpoint`. Per-disk and
//! per-target figures carry a `Path` or `Target` dimension besides the
//! configured ones (by default `InstanceId`, from the metadata service,
//! and `Host`).

use std::time::{Duration, UNIX_EPOCH};

use super::aws::{Credentials, Imds};
use super::report::{metric, Label, Report};
use super::sigv4::{amz_date, sign_form_post, uri_encode, FORM};
use super::sinks::log;
use crate::civil::rfc3339_millis;
use crate::commands::delivery::Sink;

/// Metric data per request (the API takes up to 1000).
const PER_REQUEST: usize = 500;
/// Time allowed for one request.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Where and how the metrics go, every setting decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The metrics' namespace.
    pub namespace: String,
    /// The AWS region (signing scope, default endpoint).
    pub region: String,
    /// `https://monitoring.<region>.amazonaws.com` or the override.
    pub endpoint: String,
    /// Name and value of every metric's dimensions.
    pub dimensions: Vec<(String, String)>,
    /// Only these metrics (all when empty).
    pub metrics: Vec<String>,
}

/// The form bodies of `PutMetricData` for `report`: one per batch of
/// [`PER_REQUEST`] metric data.
pub fn bodies(report: &Report, target: &Target) -> Vec<String> {
    let stamp = rfc3339_millis(report.time);
    let samples: Vec<_> = report
        .samples()
        .into_iter()
        .filter(|s| target.metrics.is_empty() || target.metrics.iter().any(|m| m == s.name))
        .filter(|s| s.value.is_finite())
        .collect();
    samples
        .chunks(PER_REQUEST)
        .map(|chunk| {
            let mut body = format!(
                "Action=PutMetricData&Version=2010-08-01&Namespace={}",
                uri_encode(&target.namespace)
            );
            for (i, s) in chunk.iter().enumerate() {
                let p = format!("&MetricData.member.{}.", i + 1);
                let unit = metric(s.name).map_or("None", |m| m.unit);
                body.push_str(&format!(
                    "{p}MetricName={}{p}Value={}{p}Unit={}{p}Timestamp={}",
                    s.name,
                    s.value,
                    uri_encode(unit),
                    uri_encode(&stamp)
                ));
                let mut dims: Vec<(String, String)> = target.dimensions.clone();
                if let Some(l) = &s.label {
                    let name = match l {
                        Label::Path(_) => "Path",
                        Label::Target(_) => "Target",
                    };
                    dims.push((name.to_string(), l.value()));
                }
                for (j, (k, v)) in dims.iter().enumerate() {
                    let d = format!("{p}Dimensions.member.{}.", j + 1);
                    body.push_str(&format!(
                        "{d}Name={}{d}Value={}",
                        uri_encode(k),
                        uri_encode(v)
                    ));
                }
            }
            body
        })
        .collect()
}

/// Sends reports to CloudWatch.
pub struct CloudWatch {
    target: Target,
    credentials: Credentials,
    agent: ureq::Agent,
    host: String,
}

impl CloudWatch {
    /// A sink for `target`, signing with keys from the usual chain.
    ///
    /// # Errors
    ///
    /// The endpoint is not a URL with a host.
    pub fn new(target: Target) -> Result<CloudWatch, String> {
        let uri: ureq::http::Uri = target
            .endpoint
            .parse()
            .map_err(|_| format!("invalid CloudWatch endpoint {:?}", target.endpoint))?;
        let host = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("invalid CloudWatch endpoint {:?}", target.endpoint))?;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .user_agent(concat!("nats-lite/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(CloudWatch {
            target,
            credentials: Credentials::new(Imds::from_env()),
            agent,
            host,
        })
    }
}

impl Sink<Report> for CloudWatch {
    fn name(&self) -> String {
        format!("cloudwatch {}", self.target.endpoint)
    }

    fn deliver(&mut self, report: &Report) -> Result<(), String> {
        let keys = self.credentials.get(&|l| log(l))?;
        for body in bodies(report, &self.target) {
            let now = std::time::SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let signed = sign_form_post(
                &keys,
                &self.host,
                &self.target.region,
                "monitoring",
                &amz_date(i64::try_from(now.as_secs()).unwrap_or(i64::MAX)),
                body.as_bytes(),
            );
            let mut req = self
                .agent
                .post(&self.target.endpoint)
                .header("Content-Type", FORM);
            for (k, v) in &signed {
                req = req.header(*k, v);
            }
            let resp = req.send(body.as_bytes()).map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            if status != 200 {
                let text = resp
                    .into_body()
                    .into_with_config()
                    .limit(64 * 1024)
                    .read_to_string()
                    .unwrap_or_default();
                let text: String = text.trim().chars().take(300).collect();
                return Err(format!("PutMetricData answered {status}: {text}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies() {
        let report = super::super::report::tests::sample_report();
        let t = Target {
            namespace: "NatsLite/Host".into(),
            region: "us-east-1".into(),
            endpoint: "https://monitoring.us-east-1.amazonaws.com".into(),
            dimensions: vec![("Host".into(), "h1".into())],
            metrics: vec!["load_per_cpu".into(), "disk_used_percent".into()],
        };
        let b = bodies(&report, &t);
        assert_eq!(
            b,
            [
                "Action=PutMetricData&Version=2010-08-01&Namespace=NatsLite%2FHost\
                 &MetricData.member.1.MetricName=load_per_cpu&MetricData.member.1.Value=0.75\
                 &MetricData.member.1.Unit=None\
                 &MetricData.member.1.Timestamp=1970-01-01T00%3A00%3A00.000Z\
                 &MetricData.member.1.Dimensions.member.1.Name=Host\
                 &MetricData.member.1.Dimensions.member.1.Value=h1\
                 &MetricData.member.2.MetricName=disk_used_percent\
                 &MetricData.member.2.Value=63.1578947368421\
                 &MetricData.member.2.Unit=Percent\
                 &MetricData.member.2.Timestamp=1970-01-01T00%3A00%3A00.000Z\
                 &MetricData.member.2.Dimensions.member.1.Name=Host\
                 &MetricData.member.2.Dimensions.member.1.Value=h1\
                 &MetricData.member.2.Dimensions.member.2.Name=Path\
                 &MetricData.member.2.Dimensions.member.2.Value=%2F"
            ]
        );
    }
}
