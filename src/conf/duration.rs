//! Durations as nats-server reads them: Go's `time.ParseDuration` syntax
//! (`"2s"`, `"1m30s"`, `"500ms"`, `"1.5h"`), and, for options that have
//! always taken one, a plain integer meaning seconds with a warning that it
//! should be converted (`parseDuration` in nats-server's `server/opts.go`).

use std::time::Duration;

use super::error::{ConfError, Warning};
use super::value::{Value, ValueKind};

/// Parse a Go duration: an optional sign, then one or more decimal numbers
/// each with a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`); `"0"` needs no
/// unit. Negative durations are refused (nothing in the configuration
/// takes one).
///
/// # Errors
///
/// A message in Go's words, e.g. `time: missing unit in duration "1"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match parse_signed_duration(text)? {
        (false, d) => Ok(d),
        (true, d) if d.is_zero() => Ok(d),
        (true, _) => Err(format!("negative duration \"{text}\" is not allowed")),
    }
}

/// [`parse_duration`] that also accepts a negative duration, returned as
/// `(true, magnitude)`.
pub(crate) fn parse_signed_duration(text: &str) -> Result<(bool, Duration), String> {
    let invalid = || format!("time: invalid duration \"{text}\"");
    let (negative, mut s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if s == "0" {
        return Ok((negative, Duration::ZERO));
    }
    if s.is_empty() {
        return Err(invalid());
    }
    // Go caps durations at i64 nanoseconds (about 292 years).
    const MAX_NANOS: u128 = i64::MAX as u128;
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, rest) = s.split_at(int_len);
        let (frac_part, rest) = match rest.strip_prefix('.') {
            Some(after) => {
                let n = after.bytes().take_while(u8::is_ascii_digit).count();
                after.split_at(n)
            }
            None => ("", rest),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .char_indices()
            .find(|&(_, c)| c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let (unit, rest) = rest.split_at(unit_len);
        let nanos_per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("time: missing unit in duration \"{text}\"")),
            _ => {
                return Err(format!(
                    "time: unknown unit \"{unit}\" in duration \"{text}\""
                ))
            }
        };
        // The integer part, then the fraction digit by digit (enough
        // digits for nanoseconds; the rest cannot matter).
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut nanos = whole.checked_mul(nanos_per_unit).ok_or_else(invalid)?;
        let mut scale = nanos_per_unit;
        for digit in frac_part.bytes().take(20) {
            scale /= 10;
            nanos = nanos.saturating_add(u128::from(digit - b'0') * scale);
        }
        total = total.checked_add(nanos).ok_or_else(invalid)?;
        if total > MAX_NANOS {
            return Err(invalid());
        }
        s = rest;
    }
    let secs = (total / 1_000_000_000) as u64;
    let nanos = (total % 1_000_000_000) as u32;
    Ok((negative, Duration::new(secs, nanos)))
}

/// The duration an option `field` gives: a Go duration string, or (as
/// nats-server still accepts) an integer number of seconds, which adds a
/// warning that it should be converted.
///
/// # Errors
///
/// A string that is not a duration, a negative number, any other kind.
pub fn duration_from_value(
    field: &str,
    value: &Value,
    warnings: &mut Vec<Warning>,
) -> Result<Duration, ConfError> {
    match &value.kind {
        ValueKind::String(s) => parse_duration(s)
            .map_err(|e| ConfError::at(&value.pos, format!("error parsing {field}: {e}"))),
        ValueKind::Integer(n) => {
            let secs = u64::try_from(*n)
                .map_err(|_| ConfError::at(&value.pos, format!("{field} can not be negative")))?;
            warnings.push(Warning::at(
                &value.pos,
                format!(
                    "{field} should be converted to a duration: a plain number is seconds, \
                     write \"{n}s\""
                ),
            ));
            Ok(Duration::from_secs(secs))
        }
        _ => Err(ConfError::at(
            &value.pos,
            format!(
                "{field} expects a duration such as \"2s\" or \"1m30s\", got {}",
                value.kind_name()
            ),
        )),
    }
}

/// A timeout in seconds as the `authorization` and `tls` blocks take it: an
/// integer, a float (`0.5`) or a duration string (`"500ms"`). No warning:
/// nats-server documents these in seconds.
///
/// # Errors
///
/// A negative or non-finite number, a bad string, any other kind.
pub fn seconds_from_value(field: &str, value: &Value) -> Result<Duration, ConfError> {
    let secs = match &value.kind {
        ValueKind::Integer(n) => *n as f64,
        ValueKind::Float(f) => *f,
        ValueKind::String(s) => {
            return parse_duration(s)
                .map_err(|e| ConfError::at(&value.pos, format!("error parsing {field}: {e}")))
        }
        _ => {
            return Err(ConfError::at(
                &value.pos,
                format!(
                    "{field} expects seconds (1, 0.5) or a duration (\"2s\"), got {}",
                    value.kind_name()
                ),
            ))
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| {
        ConfError::at(
            &value.pos,
            format!("{field} must be a positive number of seconds, got {secs}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::error::Pos;
    use std::path::Path;
    use std::sync::Arc;

    fn d(s: &str) -> Duration {
        parse_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn go_syntax() {
        assert_eq!(d("2s"), Duration::from_secs(2));
        assert_eq!(d("1m30s"), Duration::from_secs(90));
        assert_eq!(d("500ms"), Duration::from_millis(500));
        assert_eq!(d("2h"), Duration::from_secs(7200));
        assert_eq!(d("1.5s"), Duration::from_millis(1500));
        assert_eq!(d(".5s"), Duration::from_millis(500));
        assert_eq!(d("1.s"), Duration::from_secs(1));
        assert_eq!(d("1h2m3s4ms5us6ns"), Duration::new(3723, 4_005_006));
        assert_eq!(d("3µs"), Duration::from_micros(3));
        assert_eq!(d("3μs"), Duration::from_micros(3));
        assert_eq!(d("0"), Duration::ZERO);
        assert_eq!(d("+5s"), Duration::from_secs(5));
        assert_eq!(d("-0"), Duration::ZERO);
        assert_eq!(d("0.000000001s"), Duration::from_nanos(1));
        assert_eq!(d("2562047h"), Duration::from_secs(2562047 * 3600));
    }

    #[test]
    fn go_errors() {
        assert_eq!(
            parse_duration("1").unwrap_err(),
            "time: missing unit in duration \"1\""
        );
        assert_eq!(
            parse_duration("1x").unwrap_err(),
            "time: unknown unit \"x\" in duration \"1x\""
        );
        assert_eq!(
            parse_duration("").unwrap_err(),
            "time: invalid duration \"\""
        );
        assert_eq!(
            parse_duration("s").unwrap_err(),
            "time: invalid duration \"s\""
        );
        assert_eq!(
            parse_duration(".s").unwrap_err(),
            "time: invalid duration \".s\""
        );
        assert_eq!(
            parse_duration("1s ").unwrap_err(),
            "time: unknown unit \"s \" in duration \"1s \""
        );
        assert!(parse_duration("9999999999h").is_err());
        assert!(parse_duration("99999999999999999999999999999s").is_err());
        assert!(parse_duration("-1s").unwrap_err().contains("negative"));
        assert_eq!(
            parse_signed_duration("-1s"),
            Ok((true, Duration::from_secs(1)))
        );
    }

    fn value(kind: ValueKind) -> Value {
        Value::new(kind, Pos::new(Arc::from(Path::new("t.conf")), 2, 3))
    }

    #[test]
    fn plain_integer_is_seconds_with_a_warning() {
        let mut warnings = Vec::new();
        let v = value(ValueKind::Integer(5));
        assert_eq!(
            duration_from_value("write_deadline", &v, &mut warnings),
            Ok(Duration::from_secs(5))
        );
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0]
            .to_string()
            .starts_with("t.conf:2:3: write_deadline should be converted"));
        let v = value(ValueKind::String("2s".into()));
        assert_eq!(
            duration_from_value("x", &v, &mut warnings),
            Ok(Duration::from_secs(2))
        );
        assert_eq!(warnings.len(), 1);
        let e = duration_from_value("x", &value(ValueKind::String("2".into())), &mut warnings)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.conf:2:3: error parsing x: time: missing unit in duration \"2\""
        );
        assert!(duration_from_value("x", &value(ValueKind::Integer(-1)), &mut warnings).is_err());
        assert!(duration_from_value("x", &value(ValueKind::Bool(true)), &mut warnings).is_err());
    }

    #[test]
    fn seconds() {
        assert_eq!(
            seconds_from_value("t", &value(ValueKind::Float(0.5))),
            Ok(Duration::from_millis(500))
        );
        assert_eq!(
            seconds_from_value("t", &value(ValueKind::Integer(2))),
            Ok(Duration::from_secs(2))
        );
        assert_eq!(
            seconds_from_value("t", &value(ValueKind::String("1m".into()))),
            Ok(Duration::from_secs(60))
        );
        assert!(seconds_from_value("t", &value(ValueKind::Float(-1.0))).is_err());
        assert!(seconds_from_value("t", &value(ValueKind::Float(f64::INFINITY))).is_err());
        assert!(seconds_from_value("t", &value(ValueKind::Integer(-1))).is_err());
    }
}
