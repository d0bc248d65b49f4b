//! Helpers that turn [`Value`]s into Rust types for the typed layer
//! ([`crate::conf::ServerConfig`] and the blocks in it), with errors that
//! name the option, what it expects, what it got, and where.

use super::error::{ConfError, Warning};
use super::value::{Entry, Map, Value, ValueKind};

/// How a value looks in a message: its kind, and the value if it is short.
pub(crate) fn describe(value: &Value) -> String {
    match &value.kind {
        ValueKind::String(s) if s.chars().count() <= 40 => format!("a string (\"{s}\")"),
        ValueKind::Integer(n) => format!("an integer ({n})"),
        ValueKind::Float(f) => format!("a float ({f})"),
        ValueKind::Bool(b) => format!("a boolean ({b})"),
        _ => value.kind_name().to_string(),
    }
}

/// The error for a value of the wrong kind.
pub(crate) fn wrong_type(field: &str, expected: &str, value: &Value) -> ConfError {
    ConfError::at(
        &value.pos,
        format!("'{field}' expects {expected}, got {}", describe(value)),
    )
}

/// A string.
pub(crate) fn string(field: &str, value: &Value) -> Result<String, ConfError> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| wrong_type(field, "a string", value))
}

/// A boolean.
pub(crate) fn boolean(field: &str, value: &Value) -> Result<bool, ConfError> {
    value
        .as_bool()
        .ok_or_else(|| wrong_type(field, "a boolean (true/false)", value))
}

/// An integer (size suffixes such as `1kb` are applied by the parser).
pub(crate) fn integer(field: &str, value: &Value) -> Result<i64, ConfError> {
    value
        .as_int()
        .ok_or_else(|| wrong_type(field, "an integer", value))
}

/// A non-negative integer that fits `T`.
pub(crate) fn count<T: TryFrom<i64>>(field: &str, value: &Value) -> Result<T, ConfError> {
    let n = integer(field, value)?;
    if n < 0 {
        return Err(ConfError::at(
            &value.pos,
            format!("'{field}' can not be negative, got {n}"),
        ));
    }
    T::try_from(n).map_err(|_| ConfError::at(&value.pos, format!("'{field}' value is too big")))
}

/// A map.
pub(crate) fn map<'a>(field: &str, value: &'a Value) -> Result<&'a Map, ConfError> {
    value
        .as_map()
        .ok_or_else(|| wrong_type(field, "a map { ... }", value))
}

/// An array.
pub(crate) fn array<'a>(field: &str, value: &'a Value) -> Result<&'a [Value], ConfError> {
    value
        .as_array()
        .ok_or_else(|| wrong_type(field, "an array [ ... ]", value))
}

/// A string or an array of strings.
pub(crate) fn string_list(field: &str, value: &Value) -> Result<Vec<String>, ConfError> {
    match &value.kind {
        ValueKind::String(s) => Ok(vec![s.clone()]),
        ValueKind::Array(items) => items.iter().map(|v| string(field, v)).collect(),
        _ => Err(wrong_type(field, "a string or an array of strings", value)),
    }
}

/// A port as nats-server takes it: `-1` is "pick a free port" and comes
/// back as `Some(0)`; `0` is "the default" (or "off" for monitoring) and
/// comes back as `None`.
pub(crate) fn port(field: &str, value: &Value) -> Result<Option<u16>, ConfError> {
    port_number(field, integer(field, value)?, value)
}

fn port_number(field: &str, n: i64, value: &Value) -> Result<Option<u16>, ConfError> {
    match n {
        -1 => Ok(Some(0)),
        0 => Ok(None),
        1..=65535 => Ok(Some(n as u16)),
        _ => Err(ConfError::at(
            &value.pos,
            format!("'{field}' must be a port from 1 to 65535 (or -1 for any free port), got {n}"),
        )),
    }
}

/// `host:port`, `[v6]:port` or a bare port number (nats-server's
/// `parseListen`). An empty host is `None`; the port as [`port`].
pub(crate) fn host_port(
    field: &str,
    value: &Value,
) -> Result<(Option<String>, Option<u16>), ConfError> {
    let text = match &value.kind {
        ValueKind::Integer(n) => return Ok((None, port_number(field, *n, value)?)),
        ValueKind::String(s) => s,
        _ => return Err(wrong_type(field, "host:port or a port number", value)),
    };
    let bad = || {
        ConfError::at(
            &value.pos,
            format!("'{field}': could not parse address string \"{text}\" (expected host:port)"),
        )
    };
    let (host, port) = split_host_port(text).ok_or_else(bad)?;
    let n: i64 = port.parse().map_err(|_| {
        ConfError::at(
            &value.pos,
            format!("'{field}': could not parse port \"{port}\""),
        )
    })?;
    let host = (!host.is_empty()).then(|| host.to_string());
    Ok((host, port_number(field, n, value)?))
}

/// Split `host:port` as Go's `net.SplitHostPort`: IPv6 hosts in brackets,
/// no other colons in the host.
pub(crate) fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host, port));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') {
        return None;
    }
    Some((host, port))
}

/// The error (or not) for a key nobody knows: fine if it is a variable
/// definition that was used, as nats-server's `IsUsedVariable`.
pub(crate) fn unknown_field(entry: &Entry) -> Result<(), ConfError> {
    if entry.used_as_variable {
        Ok(())
    } else {
        Err(ConfError::at(
            &entry.key_pos,
            format!("unknown field \"{}\"", entry.key),
        ))
    }
}

/// The error for a nats-server option that nats-lite does not implement
/// and must not ignore, because ignoring it would weaken security.
pub(crate) fn not_supported(entry: &Entry, what: &str) -> ConfError {
    ConfError::at(
        &entry.key_pos,
        format!(
            "'{}' ({what}) is not supported by nats-lite; refusing to start without it",
            entry.key
        ),
    )
}

/// The warning for a nats-server option that nats-lite ignores.
pub(crate) fn ignored(entry: &Entry, warnings: &mut Vec<Warning>) {
    warnings.push(Warning::at(
        &entry.key_pos,
        format!(
            "'{}' is not supported by nats-lite and is ignored",
            entry.key
        ),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::error::Pos;
    use std::path::Path;
    use std::sync::Arc;

    fn v(kind: ValueKind) -> Value {
        Value::new(kind, Pos::new(Arc::from(Path::new("t.conf")), 1, 7))
    }

    fn s(text: &str) -> Value {
        v(ValueKind::String(text.into()))
    }

    #[test]
    fn host_ports() {
        assert_eq!(
            host_port("listen", &s("127.0.0.1:4222")),
            Ok((Some("127.0.0.1".into()), Some(4222)))
        );
        assert_eq!(
            host_port("listen", &s("[::1]:4222")),
            Ok((Some("::1".into()), Some(4222)))
        );
        assert_eq!(host_port("listen", &s(":4222")), Ok((None, Some(4222))));
        assert_eq!(
            host_port("listen", &s("localhost:-1")),
            Ok((Some("localhost".into()), Some(0)))
        );
        assert_eq!(
            host_port("http", &v(ValueKind::Integer(8222))),
            Ok((None, Some(8222)))
        );
        assert_eq!(
            host_port("listen", &s("localhost")).unwrap_err().to_string(),
            "t.conf:1:7: 'listen': could not parse address string \"localhost\" (expected host:port)"
        );
        assert!(host_port("listen", &s("::1:4222")).is_err());
        assert!(host_port("listen", &s("h:x"))
            .unwrap_err()
            .to_string()
            .contains("could not parse port \"x\""));
        assert!(host_port("listen", &s("h:70000"))
            .unwrap_err()
            .to_string()
            .contains("1 to 65535"));
        assert!(host_port("listen", &v(ValueKind::Bool(true))).is_err());
    }

    #[test]
    fn ports() {
        assert_eq!(port("port", &v(ValueKind::Integer(-1))), Ok(Some(0)));
        assert_eq!(port("port", &v(ValueKind::Integer(0))), Ok(None));
        assert_eq!(port("port", &v(ValueKind::Integer(65535))), Ok(Some(65535)));
        assert!(port("port", &v(ValueKind::Integer(-2))).is_err());
        assert_eq!(
            port("port", &s("4222")).unwrap_err().to_string(),
            "t.conf:1:7: 'port' expects an integer, got a string (\"4222\")"
        );
    }

    #[test]
    fn counts() {
        assert_eq!(count::<u8>("n", &v(ValueKind::Integer(255))), Ok(255));
        assert!(count::<u8>("n", &v(ValueKind::Integer(256)))
            .unwrap_err()
            .to_string()
            .contains("too big"));
        assert!(count::<u8>("n", &v(ValueKind::Integer(-1)))
            .unwrap_err()
            .to_string()
            .contains("negative"));
        assert_eq!(string_list("x", &s("a")), Ok(vec!["a".to_string()]));
        assert!(string_list(
            "x",
            &v(ValueKind::Array(vec![s("a"), v(ValueKind::Integer(1))]))
        )
        .is_err());
    }
}
