//! Characters to tokens: keys, scalar values, include file names, blanks and
//! comments, each with its position.
//!
//! The format is context-sensitive (a bare `a:b` is a key and a separator at
//! the start of an entry but a string after one), so the lexer does not run
//! ahead on its own: [`crate::conf::parser`] asks it for the token it expects
//! next, as nats-server's state-machine lexer (`conf/lex.go`) does.
//!
//! The token rules, as nats-server's:
//! - comments run from `#` or `//` to the end of the line;
//! - a bare key ends at white space, `:` or `=` (and, more leniently than
//!   nats-server, at brackets, `,`, `;` and quotes, so `authorization{`
//!   works);
//! - a bare value ends at white space, a new line, `,`, `;`, `]` or `}`, so
//!   `127.0.0.1:4222`, `./certs/server.pem` and `nats-route://a:b@h:6222` are
//!   single strings; a `#` inside one is not a comment;
//! - a bare value is then a boolean (`true/false/yes/no/on/off`, any case), a
//!   variable (`$NAME`), an integer with an optional size suffix (`1k` =
//!   1000, `1kb`/`1ki`/`1kib` = 1024; m, g, t, p, e likewise), a float, or
//!   else a string;
//! - `"..."` strings take the escapes `\t \n \r \" \\ \xHH` (plus JSON's
//!   `\/ \b \f \uXXXX`); `'...'` strings take none; `( ... )` is a raw block
//!   that ends at a `)` alone on a line.

use std::path::Path;
use std::sync::Arc;

use super::error::{ConfError, Pos};

/// A scalar value as read from the text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    /// Quoted, block or bare string.
    Str(String),
    /// Integer, size suffix applied.
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean word.
    Bool(bool),
    /// `$NAME`: the name, without the `$`.
    Var(String),
}

/// A key as read from the text.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    /// The key without quotes.
    pub text: String,
    /// True when it was quoted (a quoted `include` is an ordinary key).
    pub quoted: bool,
    /// Where it starts.
    pub pos: Pos,
}

/// A cursor over one text, tracking line and column.
pub(crate) struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
    file: Arc<Path>,
}

/// White space other than a line end.
pub(crate) fn is_blank(c: char) -> bool {
    c.is_whitespace() && !is_newline(c)
}

/// A line end (`\r` counts, so CRLF files work).
pub(crate) fn is_newline(c: char) -> bool {
    c == '\n' || c == '\r'
}

/// Characters that end a bare value.
fn ends_bare_value(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | ';' | ']' | '}')
}

/// Characters that end a bare key.
fn ends_bare_key(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ':' | '=' | '{' | '[' | '}' | ']' | ',' | ';' | '"' | '\''
        )
}

/// Show a character in a message: visible, or escaped if it is a control.
pub(crate) fn show(c: char) -> String {
    match c {
        '\n' => "\\n".to_string(),
        '\r' => "\\r".to_string(),
        '\t' => "\\t".to_string(),
        c if c.is_control() => format!("\\u{{{:x}}}", c as u32),
        c => c.to_string(),
    }
}

impl Lexer {
    /// A lexer over `text`, whose positions name `file`. A leading byte
    /// order mark is skipped.
    pub fn new(text: &str, file: Arc<Path>) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Lexer {
            chars: text.chars().collect(),
            i: 0,
            line: 1,
            col: 1,
            file,
        }
    }

    /// The file this text is from.
    pub fn file(&self) -> &Arc<Path> {
        &self.file
    }

    /// The position of the next character.
    pub fn pos(&self) -> Pos {
        Pos::new(self.file.clone(), self.line, self.col)
    }

    /// An error at the next character.
    pub fn error(&self, message: impl Into<String>) -> ConfError {
        ConfError::at(&self.pos(), message)
    }

    /// The next character.
    pub fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    /// The character `n` after the next one.
    pub fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.i + n).copied()
    }

    /// Consume the next character.
    pub fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    /// True at the end of the text.
    pub fn at_eof(&self) -> bool {
        self.i >= self.chars.len()
    }

    /// True at `#` or `//`.
    pub fn at_comment(&self) -> bool {
        match self.peek() {
            Some('#') => true,
            Some('/') => self.peek_at(1) == Some('/'),
            _ => false,
        }
    }

    /// Skip a comment up to (not including) the end of its line.
    pub fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if is_newline(c) {
                break;
            }
            self.bump();
        }
    }

    /// Skip white space other than line ends. True if anything was skipped.
    pub fn skip_blanks(&mut self) -> bool {
        let start = self.i;
        while self.peek().is_some_and(is_blank) {
            self.bump();
        }
        self.i > start
    }

    /// Skip white space including line ends, but not comments.
    pub fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// Skip white space, line ends and comments.
    pub fn skip_space_and_comments(&mut self) {
        loop {
            self.skip_space();
            if !self.at_comment() {
                return;
            }
            self.skip_comment();
        }
    }

    /// Read a key at the start of an entry.
    pub fn read_key(&mut self) -> Result<Key, ConfError> {
        let pos = self.pos();
        match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.bump();
                let mut text = String::new();
                loop {
                    match self.bump() {
                        Some(c) if c == q => break,
                        Some(c) => text.push(c),
                        None => {
                            return Err(ConfError::at(&pos, "unterminated quoted key"));
                        }
                    }
                }
                Ok(Key {
                    text,
                    quoted: true,
                    pos,
                })
            }
            Some(c @ (':' | '=')) => Err(self.error(format!("unexpected key separator '{c}'"))),
            Some(c) if ends_bare_key(c) => {
                Err(self.error(format!("expected a key, found '{}'", show(c))))
            }
            None => Err(self.error("expected a key, found the end of the file")),
            Some(_) => {
                let mut text = String::new();
                while let Some(c) = self.peek() {
                    if ends_bare_key(c) {
                        break;
                    }
                    text.push(c);
                    self.bump();
                }
                Ok(Key {
                    text,
                    quoted: false,
                    pos,
                })
            }
        }
    }

    /// Read the file name of an `include` (quoted, or bare up to white
    /// space, `;`, `,` or `}`). The lexer is just after the keyword.
    pub fn read_include_name(&mut self) -> Result<(String, Pos), ConfError> {
        self.skip_blanks();
        let pos = self.pos();
        match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.bump();
                let mut name = String::new();
                loop {
                    match self.bump() {
                        Some(c) if c == q => break,
                        Some(c) => name.push(c),
                        None => {
                            return Err(ConfError::at(
                                &pos,
                                "unterminated quoted include file name",
                            ))
                        }
                    }
                }
                if name.is_empty() {
                    return Err(ConfError::at(&pos, "include needs a file name"));
                }
                Ok((name, pos))
            }
            None => Err(self.error("include needs a file name, found the end of the file")),
            Some(c) if is_newline(c) || c.is_whitespace() => {
                Err(self.error("include needs a file name on the same line"))
            }
            Some(c @ ('[' | '{' | '(' | ',' | ';' | '}' | ']')) => {
                Err(self.error(format!("include needs a file name, found '{c}'")))
            }
            Some(_) => {
                let mut name = String::new();
                while let Some(c) = self.peek() {
                    if c.is_whitespace() || matches!(c, ';' | ',' | '}') {
                        break;
                    }
                    name.push(c);
                    self.bump();
                }
                Ok((name, pos))
            }
        }
    }

    /// Read a scalar value: quoted, block or bare. The next character is
    /// the value's first one and is not `[`, `{`, white space or a comment.
    pub fn read_scalar(&mut self) -> Result<(Scalar, Pos), ConfError> {
        let pos = self.pos();
        let scalar = match self.peek() {
            Some('"') => Scalar::Str(self.read_double_quoted()?),
            Some('\'') => Scalar::Str(self.read_single_quoted()?),
            Some('(') => Scalar::Str(self.read_block()?),
            _ => self.read_bare()?,
        };
        Ok((scalar, pos))
    }

    fn read_double_quoted(&mut self) -> Result<String, ConfError> {
        let start = self.pos();
        self.bump();
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(ConfError::at(&start, "unterminated string")),
                Some('"') => {
                    self.bump();
                    break;
                }
                Some('\\') => self.read_escape(&mut out)?,
                Some(c) => {
                    push_char(&mut out, c);
                    self.bump();
                }
            }
        }
        utf8(out, &start)
    }

    fn read_single_quoted(&mut self) -> Result<String, ConfError> {
        let start = self.pos();
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(ConfError::at(&start, "unterminated string")),
                Some('\'') => return Ok(s),
                Some(c) => s.push(c),
            }
        }
    }

    /// `( ... )`: everything up to a `)` alone on its line, raw (nats-server
    /// keeps the line end before the `)`).
    fn read_block(&mut self) -> Result<String, ConfError> {
        let start = self.pos();
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(ConfError::at(
                        &start,
                        "unterminated '(' block: it ends at a ')' alone on a line",
                    ))
                }
                Some('\n')
                    if self.peek() == Some(')')
                        && !matches!(self.peek_at(1), Some(c) if !is_newline(c)) =>
                {
                    s.push('\n');
                    self.bump();
                    return Ok(s);
                }
                Some(c) => s.push(c),
            }
        }
    }

    fn read_bare(&mut self) -> Result<Scalar, ConfError> {
        let start = self.pos();
        let mut out = Vec::new();
        let mut escaped = false;
        while let Some(c) = self.peek() {
            if ends_bare_value(c) {
                break;
            }
            if c == '\\' {
                escaped = true;
                self.read_escape(&mut out)?;
            } else {
                push_char(&mut out, c);
                self.bump();
            }
        }
        let text = utf8(out, &start)?;
        if escaped {
            // As nats-server: a bare value with escapes is always a string.
            return Ok(Scalar::Str(text));
        }
        classify(&text, &start)
    }

    /// Read one escape sequence; the next character is the backslash.
    fn read_escape(&mut self, out: &mut Vec<u8>) -> Result<(), ConfError> {
        let pos = self.pos();
        self.bump();
        let c = match self.bump() {
            Some(c) => c,
            None => return Err(ConfError::at(&pos, "unterminated escape sequence")),
        };
        match c {
            't' => out.push(b'\t'),
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            '"' => out.push(b'"'),
            '\\' => out.push(b'\\'),
            '/' => out.push(b'/'),
            'b' => out.push(0x08),
            'f' => out.push(0x0c),
            'x' => {
                let hi = self.bump().and_then(|c| c.to_digit(16));
                let lo = self.bump().and_then(|c| c.to_digit(16));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                    _ => {
                        return Err(ConfError::at(
                            &pos,
                            "expected two hexadecimal digits after '\\x'",
                        ))
                    }
                }
            }
            'u' => {
                let unit = self.read_hex4(&pos)?;
                let code = if (0xD800..0xDC00).contains(&unit) {
                    // A UTF-16 surrogate pair, as JSON writes characters
                    // outside the basic plane.
                    if self.peek() != Some('\\') || self.peek_at(1) != Some('u') {
                        return Err(ConfError::at(&pos, "unpaired surrogate in '\\u' escape"));
                    }
                    self.bump();
                    self.bump();
                    let low = self.read_hex4(&pos)?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(ConfError::at(&pos, "unpaired surrogate in '\\u' escape"));
                    }
                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    unit
                };
                match char::from_u32(code) {
                    Some(c) => push_char(out, c),
                    None => return Err(ConfError::at(&pos, "unpaired surrogate in '\\u' escape")),
                }
            }
            c => {
                return Err(ConfError::at(
                    &pos,
                    format!(
                        "invalid escape character '{}'; the escapes are \\t, \\n, \\r, \\\", \
                         \\\\, \\xXX (and JSON's \\/, \\b, \\f, \\uXXXX)",
                        show(c)
                    ),
                ))
            }
        }
        Ok(())
    }

    fn read_hex4(&mut self, pos: &Pos) -> Result<u32, ConfError> {
        let mut n = 0;
        for _ in 0..4 {
            match self.bump().and_then(|c| c.to_digit(16)) {
                Some(d) => n = n * 16 + d,
                None => {
                    return Err(ConfError::at(
                        pos,
                        "expected four hexadecimal digits after '\\u'",
                    ))
                }
            }
        }
        Ok(n)
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

fn utf8(bytes: Vec<u8>, pos: &Pos) -> Result<String, ConfError> {
    String::from_utf8(bytes)
        .map_err(|_| ConfError::at(pos, "string is not valid UTF-8 (check its \\x escapes)"))
}

/// The multiplier of a size suffix (lower case), as nats-server's parser:
/// `k` = 1000, `kb`/`ki`/`kib` = 1024, and so on up to `e`.
fn size_multiplier(suffix: &str) -> Option<i64> {
    let (letter, binary) = match suffix.len() {
        1 => (suffix, false),
        2 if suffix.ends_with('b') || suffix.ends_with('i') => (&suffix[..1], true),
        3 if suffix.ends_with("ib") => (&suffix[..1], true),
        _ => return None,
    };
    let power = match letter {
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        "e" => 6,
        _ => return None,
    };
    let base: i64 = if binary { 1024 } else { 1000 };
    base.checked_pow(power)
}

/// `-?D+.D+`, `-?D+(.D+)?[eE][+-]?D+`: the floats we accept.
fn is_float(s: &str) -> bool {
    let b = s.strip_prefix('-').unwrap_or(s).as_bytes();
    let digits = |b: &[u8], mut i: usize| {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (i, i > start)
    };
    let (mut i, ok) = digits(b, 0);
    if !ok {
        return false;
    }
    let mut shaped = false;
    if i < b.len() && b[i] == b'.' {
        let (j, ok) = digits(b, i + 1);
        if !ok {
            return false;
        }
        i = j;
        shaped = true;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let (k, ok) = digits(b, j);
        if !ok {
            return false;
        }
        i = k;
        shaped = true;
    }
    shaped && i == b.len()
}

/// What a bare value is: boolean, variable, number or string.
pub(crate) fn classify(text: &str, pos: &Pos) -> Result<Scalar, ConfError> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => return Ok(Scalar::Bool(true)),
        "false" | "no" | "off" => return Ok(Scalar::Bool(false)),
        _ => {}
    }
    if let Some(name) = text.strip_prefix('$') {
        if name.is_empty() {
            return Err(ConfError::at(
                pos,
                "'$' must be followed by a variable name",
            ));
        }
        return Ok(Scalar::Var(name.to_string()));
    }
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let n_digits = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    if n_digits == 0 {
        return Ok(Scalar::Str(text.to_string()));
    }
    let number_len = text.len() - unsigned.len() + n_digits;
    let (number, suffix) = text.split_at(number_len);
    let out_of_range = || ConfError::at(pos, format!("integer '{text}' is out of range"));
    if suffix.is_empty() {
        return number.parse().map(Scalar::Int).map_err(|_| out_of_range());
    }
    if let Some(mult) = size_multiplier(&suffix.to_ascii_lowercase()) {
        let n: i64 = number.parse().map_err(|_| out_of_range())?;
        return n
            .checked_mul(mult)
            .map(Scalar::Int)
            .ok_or_else(out_of_range);
    }
    if is_float(text) {
        return match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Scalar::Float(f)),
            _ => Err(ConfError::at(
                pos,
                format!("float '{text}' is out of range"),
            )),
        };
    }
    Ok(Scalar::Str(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexer(text: &str) -> Lexer {
        Lexer::new(text, Arc::from(Path::new("t.conf")))
    }

    fn scalar(text: &str) -> Scalar {
        lexer(text).read_scalar().unwrap().0
    }

    fn scalar_err(text: &str) -> String {
        lexer(text).read_scalar().unwrap_err().to_string()
    }

    #[test]
    fn sizes_as_nats_server() {
        assert_eq!(scalar("1k"), Scalar::Int(1000));
        assert_eq!(scalar("1K"), Scalar::Int(1000));
        for s in ["1kb", "1KB", "1ki", "1Ki", "1kib", "1KiB"] {
            assert_eq!(scalar(s), Scalar::Int(1024), "{s}");
        }
        assert_eq!(scalar("2m"), Scalar::Int(2_000_000));
        assert_eq!(scalar("2MB"), Scalar::Int(2 * 1024 * 1024));
        assert_eq!(scalar("1g"), Scalar::Int(1_000_000_000));
        assert_eq!(scalar("1gib"), Scalar::Int(1 << 30));
        assert_eq!(scalar("1t"), Scalar::Int(1_000_000_000_000));
        assert_eq!(scalar("1tb"), Scalar::Int(1 << 40));
        assert_eq!(scalar("1p"), Scalar::Int(1_000_000_000_000_000));
        assert_eq!(scalar("1e"), Scalar::Int(1_000_000_000_000_000_000));
        assert_eq!(scalar("1eb"), Scalar::Int(1 << 60));
        assert_eq!(scalar("-2k"), Scalar::Int(-2000));
        // Not a size: a string.
        assert_eq!(scalar("1kbb"), Scalar::Str("1kbb".into()));
        assert_eq!(scalar("1x"), Scalar::Str("1x".into()));
        assert!(scalar_err("10e").contains("out of range"));
        assert!(scalar_err("99999999999999999999").contains("out of range"));
    }

    #[test]
    fn numbers_bools_strings() {
        assert_eq!(scalar("4222"), Scalar::Int(4222));
        assert_eq!(scalar("-1"), Scalar::Int(-1));
        assert_eq!(scalar("0.5"), Scalar::Float(0.5));
        assert_eq!(scalar("-1.25"), Scalar::Float(-1.25));
        assert_eq!(scalar("1e3"), Scalar::Float(1000.0));
        assert_eq!(scalar("1.5E-1"), Scalar::Float(0.15));
        for t in ["true", "TRUE", "yes", "Yes", "on", "ON"] {
            assert_eq!(scalar(t), Scalar::Bool(true), "{t}");
        }
        for f in ["false", "False", "no", "NO", "off", "Off"] {
            assert_eq!(scalar(f), Scalar::Bool(false), "{f}");
        }
        assert_eq!(scalar("0.0.0.0"), Scalar::Str("0.0.0.0".into()));
        assert_eq!(
            scalar("127.0.0.1:4222"),
            Scalar::Str("127.0.0.1:4222".into())
        );
        assert_eq!(
            scalar("./certs/server.pem"),
            Scalar::Str("./certs/server.pem".into())
        );
        assert_eq!(scalar("1.2.3"), Scalar::Str("1.2.3".into()));
        assert_eq!(scalar("-foo"), Scalar::Str("-foo".into()));
        assert_eq!(scalar("a#b"), Scalar::Str("a#b".into()));
        assert_eq!(scalar("$FOO"), Scalar::Var("FOO".into()));
        assert_eq!(scalar("'true'"), Scalar::Str("true".into()));
        assert_eq!(scalar("\"4222\""), Scalar::Str("4222".into()));
        // A bare value ends at white space, ',', ';', ']' or '}'.
        for text in [
            "abc def", "abc,", "abc;", "abc]", "abc}", "abc\n", "abc\r\n", "abc\t",
        ] {
            assert_eq!(scalar(text), Scalar::Str("abc".into()), "{text:?}");
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(
            scalar(r#""a\tb\nc\r\"\\""#),
            Scalar::Str("a\tb\nc\r\"\\".into())
        );
        assert_eq!(scalar(r#""\x41\x7a""#), Scalar::Str("Az".into()));
        assert_eq!(
            scalar(r#""\u00e9\ud83d\ude00\/""#),
            Scalar::Str("é😀/".into())
        );
        // Single quotes are raw.
        assert_eq!(scalar(r"'a\nb'"), Scalar::Str(r"a\nb".into()));
        // Bare values take escapes too, and are then never bools or numbers.
        assert_eq!(scalar(r"tr\x75e"), Scalar::Str("true".into()));
        assert_eq!(
            scalar_err(r#""a\qb""#).split(';').next().unwrap(),
            "t.conf:1:3: invalid escape character 'q'"
        );
        assert!(scalar_err(r#""\x4""#).contains("two hexadecimal digits"));
        assert!(scalar_err(r#""\xff""#).contains("not valid UTF-8"));
        assert!(scalar_err(r#""\ud800""#).contains("surrogate"));
        assert!(scalar_err("\"abc").starts_with("t.conf:1:1: unterminated string"));
        assert!(scalar_err("'abc").starts_with("t.conf:1:1: unterminated string"));
        assert!(scalar_err("\"abc\\").contains("unterminated"));
    }

    #[test]
    fn blocks() {
        assert_eq!(
            scalar("(\nline 1\n  line 2)\n)\nafter"),
            Scalar::Str("\nline 1\n  line 2)\n".into())
        );
        assert_eq!(scalar("(x\n)"), Scalar::Str("x\n".into()));
        // nats-server's own examples (conf/lex_test.go).
        assert_eq!(
            scalar("(\n1234567890\n)\n"),
            Scalar::Str("\n1234567890\n".into())
        );
        assert_eq!(
            scalar("(\n  12(34)56\n  (\n    7890\n  )\n)\n"),
            Scalar::Str("\n  12(34)56\n  (\n    7890\n  )\n".into())
        );
        assert!(scalar_err("(abc)\n").contains("unterminated '(' block"));
    }

    #[test]
    fn keys() {
        let mut lx = lexer("port: 1");
        let k = lx.read_key().unwrap();
        assert_eq!((k.text.as_str(), k.quoted), ("port", false));
        assert_eq!(lx.peek(), Some(':'));
        let k = lexer("\"my key\" = 1").read_key().unwrap();
        assert_eq!((k.text.as_str(), k.quoted), ("my key", true));
        let k = lexer("authorization{").read_key().unwrap();
        assert_eq!(k.text, "authorization");
        assert!(lexer(": 1")
            .read_key()
            .unwrap_err()
            .to_string()
            .contains("separator ':'"));
        assert!(lexer("'abc").read_key().is_err());
    }

    #[test]
    fn positions_count_characters() {
        let mut lx = lexer("é\tx\n  y");
        for _ in 0..3 {
            lx.bump();
        }
        assert_eq!((lx.pos().line, lx.pos().col), (1, 4));
        lx.bump();
        lx.skip_blanks();
        assert_eq!((lx.pos().line, lx.pos().col), (2, 3));
    }

    #[test]
    fn comments() {
        let mut lx = lexer("  # one\n// two\n\t/x");
        lx.skip_space_and_comments();
        assert_eq!(lx.peek(), Some('/'));
        assert!(!lx.at_comment());
    }
}
