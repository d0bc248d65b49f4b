//! Thresholds with hysteresis: `--alert 'load_per_cpu>0.6'` raises one
//! alert when a figure crosses it, and `--clear 'load_per_cpu<0.4'` one
//! recovery when it comes back past the (lower) clear threshold; between
//! the two nothing is said, so a figure hovering at the line does not
//! flap. Without a `--clear` for its metric, an alert clears as soon as
//! its condition no longer holds. Per-disk and per-target figures have a
//! state per path or target, and a rule may pick one: `disk_used_percent{path=/}>90`.
//! Pure: reports in, changes out.

use std::time::SystemTime;

use serde_json::json;

use super::report::{metric, Report, Sample};
use crate::civil::rfc3339_millis;
use crate::commands::alerting::Alert;

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `>`
    Above,
    /// `>=`
    AtLeast,
    /// `<`
    Below,
    /// `<=`
    AtMost,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Above => ">",
            Op::AtLeast => ">=",
            Op::Below => "<",
            Op::AtMost => "<=",
        }
    }

    fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Above => value > threshold,
            Op::AtLeast => value >= threshold,
            Op::Below => value < threshold,
            Op::AtMost => value <= threshold,
        }
    }
}

/// `metric{label=value}>N`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The metric's name.
    pub metric: String,
    /// Only the sample whose label has this value.
    pub label: Option<(String, String)>,
    /// The comparison.
    pub op: Op,
    /// The threshold.
    pub threshold: f64,
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.metric)?;
        if let Some((k, v)) = &self.label {
            write!(f, "{{{k}={v}}}")?;
        }
        write!(f, "{}{}", self.op.text(), self.threshold)
    }
}

impl Condition {
    /// Parse `load_per_cpu>0.6`, `disk_used_percent{path=/}>=90`.
    ///
    /// # Errors
    ///
    /// What is wrong with it, for a usage error.
    pub fn parse(text: &str) -> Result<Condition, String> {
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let at = t
            .find(['<', '>'])
            .ok_or_else(|| format!("{text:?}: write METRIC>N or METRIC<N (also >= <=)"))?;
        let (lhs, rest) = t.split_at(at);
        let (op, num) = match rest.as_bytes() {
            [b'>', b'=', ..] => (Op::AtLeast, &rest[2..]),
            [b'<', b'=', ..] => (Op::AtMost, &rest[2..]),
            [b'>', ..] => (Op::Above, &rest[1..]),
            _ => (Op::Below, &rest[1..]),
        };
        let threshold: f64 = num
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("{text:?}: {num:?} is not a number"))?;
        let (name, label) = match lhs.split_once('{') {
            Some((name, sel)) => {
                let sel = sel
                    .strip_suffix('}')
                    .ok_or_else(|| format!("{text:?}: a label selector ends with }}"))?;
                let (k, v) = sel
                    .split_once('=')
                    .ok_or_else(|| format!("{text:?}: write {{path=/}} or {{target=DIR}}"))?;
                let v = v.trim_matches('"');
                if k != "path" && k != "target" {
                    return Err(format!("{text:?}: the labels are path and target"));
                }
                (name, Some((k.to_string(), v.to_string())))
            }
            None => (lhs, None),
        };
        if metric(name).is_none() {
            return Err(format!(
                "{text:?}: no metric {name:?} (e.g. load_per_cpu, memory_used_percent, \
                 disk_used_percent, file_changes_per_second)"
            ));
        }
        Ok(Condition {
            metric: name.to_string(),
            label,
            op,
            threshold,
        })
    }

    fn selects(&self, s: &Sample) -> bool {
        s.name == self.metric
            && match (&self.label, &s.label) {
                (None, _) => true,
                (Some((k, v)), Some(l)) => l.key() == k && l.value() == *v,
                (Some(_), None) => false,
            }
    }
}

/// An alert condition and the one that clears it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Raise when this holds.
    pub alert: Condition,
    /// Clear when this holds; `None`: when `alert` no longer holds.
    pub clear: Option<Condition>,
}

/// Pair each `--clear` with the `--alert` on the same metric and label.
///
/// # Errors
///
/// A condition that does not parse, or a `--clear` without its `--alert`.
pub fn rules(alerts: &[String], clears: &[String]) -> Result<Vec<Rule>, String> {
    let mut rules: Vec<Rule> = alerts
        .iter()
        .map(|a| {
            Ok(Rule {
                alert: Condition::parse(a)?,
                clear: None,
            })
        })
        .collect::<Result<_, String>>()?;
    for c in clears {
        let c = Condition::parse(c)?;
        let rule = rules
            .iter_mut()
            .find(|r| r.alert.metric == c.metric && r.alert.label == c.label && r.clear.is_none())
            .ok_or_else(|| format!("--clear {c}: no --alert on {} to clear", c.metric))?;
        rule.clear = Some(c);
    }
    Ok(rules)
}

/// Whether a rule is raised, per sample label.
#[derive(Debug)]
pub struct Thresholds {
    rules: Vec<Rule>,
    /// (rule, label value) pairs that are raised.
    raised: Vec<(usize, Option<String>)>,
}

/// One crossing.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossing {
    /// True when raised, false when cleared.
    pub raised: bool,
    /// The rule's alert condition.
    pub alert: Condition,
    /// What cleared it (the rule's clear condition or the alert's negation).
    pub clear: Option<Condition>,
    /// The path or target, for per-disk and per-target figures.
    pub label: Option<(String, String)>,
    /// The figure.
    pub value: f64,
}

impl Thresholds {
    /// States for `rules`, none raised.
    pub fn new(rules: Vec<Rule>) -> Thresholds {
        Thresholds {
            rules,
            raised: Vec::new(),
        }
    }

    /// The crossings `report` makes.
    pub fn observe(&mut self, report: &Report) -> Vec<Crossing> {
        let samples = report.samples();
        let mut out = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            for s in samples.iter().filter(|s| rule.alert.selects(s)) {
                let key = (i, s.label.as_ref().map(|l| l.value()));
                let raised = self.raised.contains(&key);
                let cross = if raised {
                    match &rule.clear {
                        Some(c) => c.op.holds(s.value, c.threshold),
                        None => !rule.alert.op.holds(s.value, rule.alert.threshold),
                    }
                } else {
                    rule.alert.op.holds(s.value, rule.alert.threshold)
                };
                if !cross {
                    continue;
                }
                if raised {
                    self.raised.retain(|k| *k != key);
                } else {
                    self.raised.push(key);
                }
                out.push(Crossing {
                    raised: !raised,
                    alert: rule.alert.clone(),
                    clear: rule.clear.clone(),
                    label: s.label.as_ref().map(|l| (l.key().to_string(), l.value())),
                    value: s.value,
                });
            }
        }
        out
    }
}

/// A figure for people: up to 3 decimals, no trailing zeros.
fn show(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl Crossing {
    /// The alert for the sinks, about `host` at `time`.
    pub fn alert(&self, host: &str, time: SystemTime) -> Alert {
        let what = match &self.label {
            Some((k, v)) => format!("{} ({k} {v})", self.alert.metric),
            None => self.alert.metric.clone(),
        };
        let (kind, text) = if self.raised {
            (
                "alert",
                format!(
                    "ALERT {host}: {what} {} {} {}",
                    show(self.value),
                    self.alert.op.text(),
                    show(self.alert.threshold)
                ),
            )
        } else {
            let back = match &self.clear {
                Some(c) => format!("{} {}", c.op.text(), show(c.threshold)),
                None => format!(
                    "no longer {} {}",
                    self.alert.op.text(),
                    show(self.alert.threshold)
                ),
            };
            (
                "clear",
                format!("OK {host}: {what} {} {back}", show(self.value)),
            )
        };
        let mut json = json!({
            "event": kind,
            "host": host,
            "metric": self.alert.metric,
            "value": self.value,
            "alert": self.alert.to_string(),
            "clear": self.clear.as_ref().map(ToString::to_string),
            "time": rfc3339_millis(time),
            "text": text,
        });
        if let Some((k, v)) = &self.label {
            json[k.as_str()] = json!(v);
        }
        Alert {
            about: format!("{host} {}", self.alert),
            text,
            json,
            env: vec![
                ("WATCH_EVENT", kind.to_string()),
                ("WATCH_HOST", host.to_string()),
                ("WATCH_METRIC", self.alert.metric.clone()),
                ("WATCH_VALUE", show(self.value)),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::report::tests::sample_report;
    use super::super::system::Load;
    use super::*;

    #[test]
    fn parse() {
        let c = Condition::parse("load_per_cpu > 0.6").unwrap();
        assert_eq!((c.op, c.threshold), (Op::Above, 0.6));
        let c = Condition::parse("disk_used_percent{path=/}>=90").unwrap();
        assert_eq!(c.label, Some(("path".into(), "/".into())));
        assert_eq!(c.to_string(), "disk_used_percent{path=/}>=90");
        assert!(Condition::parse("load>1")
            .unwrap_err()
            .contains("no metric"));
        assert!(Condition::parse("load1=1").is_err());
        assert!(Condition::parse("load1>x").is_err());
        assert!(Condition::parse("disk_used_percent{host=a}>1").is_err());
        assert!(rules(&[], &["load1<1".into()]).is_err());
    }

    fn with_load(per_cpu: f64) -> Report {
        let mut r = sample_report();
        r.cpus = 2;
        r.load = Some(Load {
            one: per_cpu * 2.0,
            five: 0.0,
            fifteen: 0.0,
        });
        r
    }

    #[test]
    fn hysteresis_raises_once_and_clears_once() {
        let rules = rules(&["load_per_cpu>0.6".into()], &["load_per_cpu<0.4".into()]).unwrap();
        let mut t = Thresholds::new(rules);
        let seen: Vec<Option<bool>> = [0.3, 0.7, 0.9, 0.5, 0.61, 0.45, 0.39, 0.5, 0.2, 0.65]
            .iter()
            .map(|v| {
                let c = t.observe(&with_load(*v));
                assert!(c.len() <= 1);
                c.first().map(|c| c.raised)
            })
            .collect();
        assert_eq!(
            seen,
            [
                None,
                Some(true),
                None,
                None,
                None,
                None,
                Some(false),
                None,
                None,
                Some(true)
            ]
        );
        let c = &t.observe(&with_load(0.1))[0];
        let a = c.alert("h1", std::time::UNIX_EPOCH);
        assert_eq!(a.text, "OK h1: load_per_cpu 0.1 < 0.4");
        assert_eq!(a.json["event"], "clear");
    }

    #[test]
    fn without_clear_the_negation_clears() {
        let mut t = Thresholds::new(rules(&["disk_used_percent{path=/}>60".into()], &[]).unwrap());
        let up = t.observe(&sample_report());
        assert_eq!(up.len(), 1);
        let a = up[0].alert("h1", std::time::UNIX_EPOCH);
        assert_eq!(a.text, "ALERT h1: disk_used_percent (path /) 63.158 > 60");
        assert_eq!(a.json["path"], "/");
        assert!(t.observe(&sample_report()).is_empty());
        let mut r = sample_report();
        r.disks[0].used = 10;
        assert!(!t.observe(&r)[0].raised);
    }
}
