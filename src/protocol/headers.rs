//! The `NATS/1.0` header block of HPUB/HMSG:
//! `NATS/1.0[ <status>[ <description>]]\r\n(Name: Value\r\n)*\r\n`.

/// A parsed header block: the optional status line parts and the name/value pairs in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// Status code from the first line (`503` for no responders), if any.
    pub status: Option<u16>,
    /// Description after the status code, if any.
    pub description: Option<String>,
    /// Name/value pairs in the order sent; a name may repeat.
    pub entries: Vec<(String, String)>,
}

/// The version prefix every header block starts with.
pub const VERSION_LINE: &str = "NATS/1.0";

impl Headers {
    /// Parse a header block; `None` when it does not start with `NATS/1.0`.
    pub fn parse(block: &[u8]) -> Option<Headers> {
        let text = String::from_utf8_lossy(block);
        let mut lines = text.split("\r\n");
        let first = lines.next()?;
        let rest = first.strip_prefix(VERSION_LINE)?;
        let mut h = Headers::default();
        let rest = rest.trim();
        if !rest.is_empty() {
            let (code, desc) = rest.split_once(' ').unwrap_or((rest, ""));
            h.status = code.parse().ok();
            if !desc.trim().is_empty() {
                h.description = Some(desc.trim().to_string());
            }
        }
        for line in lines.filter(|l| !l.is_empty()) {
            if let Some((k, v)) = line.split_once(':') {
                h.entries.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        Some(h)
    }

    /// Encode as a header block (`NATS/1.0...\r\n\r\n`).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::from(VERSION_LINE);
        if let Some(s) = self.status {
            out.push_str(&format!(" {s}"));
            if let Some(d) = &self.description {
                out.push(' ');
                out.push_str(d);
            }
        }
        out.push_str("\r\n");
        for (k, v) in &self.entries {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(v);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.into_bytes()
    }

    /// The first value of a header, by exact name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_entries() {
        let h = Headers::parse(b"NATS/1.0 503\r\nNats-Subject: foo\r\n\r\n").unwrap();
        assert_eq!(h.status, Some(503));
        assert_eq!(h.get("Nats-Subject"), Some("foo"));
        let again = Headers::parse(&h.encode()).unwrap();
        assert_eq!(again, h);
        assert!(Headers::parse(b"HTTP/1.1 200\r\n\r\n").is_none());
    }
}
