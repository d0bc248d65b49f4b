//! Body and header templates, with the names the `nats` CLI uses:
//! `{{Count}}` (also `{{Cnt}}`, starting at 1), `{{TimeStamp}}` (RFC 3339,
//! UTC), `{{Time}}` (`3:04PM`, UTC), `{{Unix}}`, `{{UnixNano}}`, `{{ID}}` (a
//! NUID-like unique id), `{{Random}}` (16 random letters and digits) and
//! `{{Random MIN MAX}}` (MIN to MAX of them). In `reply`, also
//! `{{Request}}` (the request's body), `{{Subject}}` and `{{0}}`, `{{1}}`, ...
//! (the request subject's tokens).
//!
//! A template is parsed once, so a typo is a usage error before anything is
//! sent; rendering then only fills in values. Text without `{{` is kept as it
//! is, and a `{{` that is never closed is plain text.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use super::rand::Rng;

/// Where a template is used, which decides the names it may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `pub` and `req`: no request to refer to.
    Publish,
    /// `reply`: `{{Request}}`, `{{Subject}}` and subject tokens too.
    Reply,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Count,
    TimeStamp,
    Time,
    Unix,
    UnixNano,
    Id,
    Random(usize, usize),
    Request,
    Subject,
    Token(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(Vec<u8>),
    Field(Field),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// An unknown name or bad arguments in `{{...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

/// The values a template is rendered with.
#[derive(Debug, Default)]
pub struct Context<'a> {
    /// The message number, from 1.
    pub count: u64,
    /// The request being answered (reply only).
    pub request: Option<&'a [u8]>,
    /// The request's subject (reply only).
    pub subject: Option<&'a str>,
}

/// Longest `{{Random MIN MAX}}` output, so a template cannot ask for gigabytes.
const MAX_RANDOM_LEN: usize = 1 << 20;

impl Template {
    /// Parse `text` for use in `scope`.
    ///
    /// # Errors
    ///
    /// An unknown name, or a name not available in `scope`.
    pub fn parse(text: &[u8], scope: Scope) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut literal = Vec::new();
        while let Some(open) = find(rest, b"{{") {
            let after = &rest[open + 2..];
            let Some(close) = find(after, b"}}") else {
                break;
            };
            literal.extend_from_slice(&rest[..open]);
            let inner = String::from_utf8_lossy(&after[..close]);
            let field = parse_field(inner.trim(), scope)?;
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(Part::Field(field));
            rest = &after[close + 2..];
        }
        literal.extend_from_slice(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// True when the template has no `{{...}}` at all.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// Fill in the values.
    pub fn render(&self, ctx: &Context<'_>, rng: &mut Rng) -> Vec<u8> {
        let mut out = Vec::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.extend_from_slice(t),
                Part::Field(f) => render_field(f, ctx, rng, &mut out),
            }
        }
        out
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_field(inner: &str, scope: Scope) -> Result<Field, TemplateError> {
    let words: Vec<&str> = inner.split_whitespace().collect();
    let name = words.first().copied().unwrap_or("");
    let args = &words[words.len().min(1)..];
    let no_args = |f: Field| {
        if args.is_empty() {
            Ok(f)
        } else {
            Err(TemplateError(format!(
                "template {{{{{name}}}}} takes no arguments"
            )))
        }
    };
    let reply_only = |f: Field| {
        if scope == Scope::Reply {
            no_args(f)
        } else {
            Err(TemplateError(format!(
                "template {{{{{name}}}}} is only available in `reply`"
            )))
        }
    };
    match name {
        "Count" | "Cnt" => no_args(Field::Count),
        "TimeStamp" => no_args(Field::TimeStamp),
        "Time" => no_args(Field::Time),
        "Unix" => no_args(Field::Unix),
        "UnixNano" => no_args(Field::UnixNano),
        "ID" => no_args(Field::Id),
        "Random" => match args {
            [] => Ok(Field::Random(16, 16)),
            [min, max] => {
                let min: usize = min.parse().map_err(|_| random_usage())?;
                let max: usize = max.parse().map_err(|_| random_usage())?;
                if min > max || max > MAX_RANDOM_LEN {
                    return Err(random_usage());
                }
                Ok(Field::Random(min, max))
            }
            _ => Err(random_usage()),
        },
        "Request" => reply_only(Field::Request),
        "Subject" => reply_only(Field::Subject),
        n if n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() => {
            let i = n.parse().map_err(|_| unknown(inner))?;
            reply_only(Field::Token(i))
        }
        _ => Err(unknown(inner)),
    }
}

fn random_usage() -> TemplateError {
    TemplateError(format!(
        "template {{{{Random MIN MAX}}}} needs two lengths, MIN <= MAX <= {MAX_RANDOM_LEN}"
    ))
}

fn unknown(inner: &str) -> TemplateError {
    TemplateError(format!(
        "unknown template {{{{{inner}}}}}: use Count, TimeStamp, Time, Unix, UnixNano, ID, \
         Random, or in reply Request, Subject, 0, 1, ..."
    ))
}

fn render_field(f: &Field, ctx: &Context<'_>, rng: &mut Rng, out: &mut Vec<u8>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    match f {
        Field::Count => out.extend_from_slice(ctx.count.to_string().as_bytes()),
        Field::TimeStamp => out.extend_from_slice(rfc3339(now.as_secs()).as_bytes()),
        Field::Time => out.extend_from_slice(kitchen(now.as_secs()).as_bytes()),
        Field::Unix => out.extend_from_slice(now.as_secs().to_string().as_bytes()),
        Field::UnixNano => out.extend_from_slice(now.as_nanos().to_string().as_bytes()),
        Field::Id => out.extend_from_slice(rng.nuid().as_bytes()),
        Field::Random(min, max) => {
            let len = min + rng.below((max - min) as u64 + 1) as usize;
            out.extend_from_slice(rng.alphanumeric(len).as_bytes());
        }
        Field::Request => out.extend_from_slice(ctx.request.unwrap_or_default()),
        Field::Subject => out.extend_from_slice(ctx.subject.unwrap_or_default().as_bytes()),
        Field::Token(i) => {
            if let Some(t) = ctx.subject.and_then(|s| s.split('.').nth(*i)) {
                out.extend_from_slice(t.as_bytes());
            }
        }
    }
}

/// `2006-01-02T15:04:05Z` for a Unix time.
pub fn rfc3339(secs: u64) -> String {
    crate::civil::rfc3339(secs as i64)
}

/// Go's `time.Kitchen` (`3:04PM`) for a Unix time, in UTC.
fn kitchen(secs: u64) -> String {
    let s = secs % 86_400;
    let (h, m) = (s / 3600, s / 60 % 60);
    let h12 = if h % 12 == 0 { 12 } else { h % 12 };
    format!("{h12}:{m:02}{}", if h < 12 { "AM" } else { "PM" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &str, scope: Scope, ctx: &Context<'_>) -> String {
        let t = Template::parse(t.as_bytes(), scope).unwrap();
        String::from_utf8(t.render(ctx, &mut Rng::with_seed(1))).unwrap()
    }

    #[test]
    fn fields() {
        let ctx = Context {
            count: 3,
            ..Default::default()
        };
        assert_eq!(
            render("n={{Count}} {{ Cnt }}", Scope::Publish, &ctx),
            "n=3 3"
        );
        assert_eq!(
            render("plain {{ open", Scope::Publish, &ctx),
            "plain {{ open"
        );
        assert_eq!(render("{{ID}}", Scope::Publish, &ctx).len(), 22);
        let r = render("{{Random 3 5}}", Scope::Publish, &ctx);
        assert!((3..=5).contains(&r.len()), "{r}");
        assert_eq!(render("{{Random}}", Scope::Publish, &ctx).len(), 16);
        let unix: u64 = render("{{Unix}}", Scope::Publish, &ctx).parse().unwrap();
        assert!(unix > 1_600_000_000);
        assert!(render("{{UnixNano}}", Scope::Publish, &ctx).len() >= 19);
        assert!(render("{{TimeStamp}}", Scope::Publish, &ctx).ends_with('Z'));
    }

    #[test]
    fn reply_fields() {
        let ctx = Context {
            count: 1,
            request: Some(b"ping"),
            subject: Some("svc.time.utc"),
        };
        assert_eq!(
            render("{{Request}}/{{Subject}}/{{2}}/{{9}}", Scope::Reply, &ctx),
            "ping/svc.time.utc/utc/"
        );
        assert!(Template::parse(b"{{Request}}", Scope::Publish).is_err());
    }

    #[test]
    fn errors() {
        for bad in [
            "{{Nope}}",
            "{{Count 1}}",
            "{{Random 5 1}}",
            "{{Random x y}}",
            "{{}}",
        ] {
            assert!(
                Template::parse(bad.as_bytes(), Scope::Publish).is_err(),
                "{bad}"
            );
        }
        assert!(Template::parse(b"no fields", Scope::Publish)
            .unwrap()
            .is_literal());
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(kitchen(0), "12:00AM");
        assert_eq!(kitchen(15 * 3600 + 4 * 60), "3:04PM");
    }
}
