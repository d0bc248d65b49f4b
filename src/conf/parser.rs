//! Tokens to a [`Map`]: the structure of the format, variables and includes.
//!
//! # Format
//!
//! A file is a list of entries, or one `{ ... }` holding them (so a JSON
//! object is a valid file). An entry is `key: value`, `key = value` or
//! `key value`, ended by a new line, `;` or `,`. Keys are bare (up to white
//! space, `:` or `=`) or quoted. Without a separator the value starts on the
//! key's line, except a map's `{`. Values are arrays `[a, b]` (elements
//! separated by commas or new lines, a trailing comma allowed), maps
//! `{ k: v }` (the separator before `{` is optional, as in
//! `authorization { ... }`) and scalars:
//!
//! - a bare value ends at white space, a new line, `,`, `;`, `]` or `}`, so
//!   `127.0.0.1:4222`, `./certs/server.pem` and `nats-route://a:b@h:6222` are
//!   single strings (a `#` or `//` inside one is not a comment);
//! - a bare value is a boolean (`true/false/yes/no/on/off`, any case), a
//!   variable (`$NAME`), an integer with an optional size suffix (`1k` =
//!   1000, `1kb`/`1ki`/`1kib` = 1024; m, g, t, p, e likewise, any case), a
//!   float (`0.5`, `1e3`), or else a string;
//! - `"..."` strings take the escapes `\t \n \r \" \\ \xHH` (plus JSON's
//!   `\/ \b \f \uXXXX`); `'...'` strings take none; `( ... )` is a raw block
//!   that ends at a `)` alone on a line.
//!
//! Comments run from `#` or `//` to the end of the line.
//!
//! # Variables
//!
//! `$NAME` is the value of the key `NAME` defined earlier in the same map or
//! an enclosing one, innermost first (arrays do not open a scope); else the
//! environment variable `NAME`, parsed as a value (`4222` is an integer; text
//! that is not one value, such as `two words`, is a string); else an error. Variable names are case-sensitive. A definition is an ordinary
//! entry, marked [`Entry::used_as_variable`](super::Entry) once referenced.
//! A bare `$2a$11$...` is a bcrypt hash, not a variable, as in nats-server.
//!
//! # Includes
//!
//! `include ./other.conf` (or a quoted name) parses that file, relative to
//! the including file's directory, and adds its entries to the current map.
//! The included file does not see the includer's variables. Includes nest
//! at most [`MAX_INCLUDE_DEPTH`] deep and a file may not include itself.
//!
//! # Limits
//!
//! Arrays and maps nest at most [`MAX_NESTING`] deep, so no input can
//! exhaust the stack.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::error::{ConfError, Pos};
use super::lexer::{is_newline, show, Lexer, Scalar};
use super::value::{Map, Value, ValueKind};

/// How deep arrays and maps may nest.
pub const MAX_NESTING: usize = 64;

/// How deep `include`s may nest.
pub const MAX_INCLUDE_DEPTH: usize = 10;

/// Parse the configuration file at `path`.
///
/// # Errors
///
/// The file cannot be read or is not UTF-8, or its content is not a valid
/// configuration (see [`parse_str`]).
pub fn parse_file(path: impl AsRef<Path>) -> Result<Map, ConfError> {
    let path = path.as_ref();
    let text = read_text(path, None)?;
    let mut shared = Shared::default();
    if let Ok(canonical) = path.canonicalize() {
        shared.include_chain.push(canonical);
    }
    Parser::new(&text, Arc::from(path), &mut shared, 0).parse_document()
}

/// Parse configuration `text`. `origin` names it in positions and is where
/// relative `include`s are looked for (its directory).
///
/// # Errors
///
/// Bad syntax, an undefined variable, an include that cannot be read, too
/// deep nesting; the error names the file, line and column.
pub fn parse_str(text: &str, origin: &Path) -> Result<Map, ConfError> {
    let mut shared = Shared::default();
    Parser::new(text, Arc::from(origin), &mut shared, 0).parse_document()
}

/// Read a file as UTF-8 text. `pos` is the include that names it, if any.
fn read_text(path: &Path, pos: Option<&Pos>) -> Result<String, ConfError> {
    let fail = |message: String| match pos {
        Some(pos) => ConfError::at(pos, message),
        None => ConfError::new(message),
    };
    let bytes = std::fs::read(path).map_err(|e| {
        fail(format!(
            "error opening config file '{}': {e}",
            path.display()
        ))
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        // The only way to get here is invalid bytes, so this is lossless.
        let before = String::from_utf8_lossy(valid);
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let at = Pos::new(Arc::from(path), line as u32, col as u32);
        ConfError::at(&at, "the file is not valid UTF-8")
    })
}

/// State shared by a file's parser and the parsers of its includes and of
/// environment variable values.
#[derive(Default)]
struct Shared {
    /// Canonical paths of the files being parsed, outermost first.
    include_chain: Vec<PathBuf>,
    /// Environment variables being expanded, to catch `A=$B`, `B=$A`.
    env_refs: Vec<String>,
}

struct Parser<'s> {
    lx: Lexer,
    /// The maps being built, outermost first: the variable scopes.
    scopes: Vec<Map>,
    shared: &'s mut Shared,
    /// Arrays and maps open, counting those of including files.
    depth: usize,
    /// Set when a variable could not be resolved, so that an environment
    /// value that fails for that reason is not taken as a plain string.
    variable_failed: bool,
}

impl<'s> Parser<'s> {
    fn new(text: &str, file: Arc<Path>, shared: &'s mut Shared, depth: usize) -> Self {
        Parser {
            lx: Lexer::new(text, file),
            scopes: Vec::new(),
            shared,
            depth,
            variable_failed: false,
        }
    }

    /// A whole file: entries up to the end, or one `{ ... }` holding them.
    fn parse_document(mut self) -> Result<Map, ConfError> {
        self.scopes.push(Map::new());
        self.lx.skip_space_and_comments();
        if self.lx.peek() == Some('{') {
            let open = self.lx.pos();
            self.lx.bump();
            self.parse_entries(Some(&open))?;
            self.lx.skip_space_and_comments();
            if let Some(c) = self.lx.peek() {
                return Err(self.lx.error(format!(
                    "unexpected '{}' after the '}}' that closes the file's '{{'",
                    show(c)
                )));
            }
        } else {
            self.parse_entries(None)?;
        }
        Ok(self.scopes.pop().unwrap_or_default())
    }

    /// Entries into the innermost scope, up to the end of the text (`open`
    /// is `None`) or up to and including the `}` that matches `open`.
    fn parse_entries(&mut self, open: Option<&Pos>) -> Result<(), ConfError> {
        loop {
            self.lx.skip_space_and_comments();
            match self.lx.peek() {
                None => {
                    return match open {
                        None => Ok(()),
                        Some(open) => Err(self.lx.error(format!(
                            "unexpected end of file: the '{{' at {}:{} is not closed",
                            open.line, open.col
                        ))),
                    }
                }
                Some('}') if open.is_some() => {
                    self.lx.bump();
                    return Ok(());
                }
                Some(c @ ('}' | ']' | ',' | ';')) => {
                    return Err(self.lx.error(format!("unexpected '{c}'")))
                }
                Some(_) => {}
            }
            self.parse_entry(open.is_some())?;
            // What may follow a value: blanks, a comment, then a line end,
            // ';', ',' or the closing '}'.
            self.lx.skip_blanks();
            if self.lx.at_comment() {
                self.lx.skip_comment();
            }
            match self.lx.peek() {
                None | Some('}') => {}
                Some(c) if is_newline(c) || c == ';' || c == ',' => {
                    self.lx.bump();
                }
                Some(c) => {
                    return Err(self.lx.error(format!(
                        "expected a new line, ';' or ',' after a value, found '{}'",
                        show(c)
                    )))
                }
            }
        }
    }

    /// One `key [:=] value` or `include file`.
    fn parse_entry(&mut self, in_map: bool) -> Result<(), ConfError> {
        let key = self.lx.read_key()?;
        if !key.quoted
            && key.text.eq_ignore_ascii_case("include")
            && self.lx.peek().is_some_and(char::is_whitespace)
        {
            return self.parse_include(&key.pos);
        }
        let key_end = self.lx.pos();
        self.lx.skip_space();
        let mut separated = false;
        if let Some(':' | '=') = self.lx.peek() {
            self.lx.bump();
            separated = true;
        } else if self.lx.pos().line != key_end.line && self.lx.peek() != Some('{') {
            // nats-server would take the next line's first word as the
            // value; only `key` + new line + `{` is a real-world layout, and
            // anything else is a forgotten value, so say so here.
            return Err(ConfError::at(
                &key_end,
                format!("expected a value for '{}' on its line", key.text),
            ));
        }
        if separated && !in_map {
            // As nats-server: at the top level the value must start on the
            // separator's line (`port:` then a new line is a mistake).
            self.lx.skip_blanks();
            if self.lx.peek().is_some_and(is_newline) {
                return Err(self.lx.error(format!(
                    "expected a value for '{}', found a new line",
                    key.text
                )));
            }
        } else {
            self.lx.skip_space();
        }
        let value = self.parse_value(&key.text)?;
        self.scope().insert(key.text, key.pos, value);
        Ok(())
    }

    /// The innermost map being built.
    fn scope(&mut self) -> &mut Map {
        if self.scopes.is_empty() {
            self.scopes.push(Map::new());
        }
        let last = self.scopes.len() - 1;
        &mut self.scopes[last]
    }

    /// A value of any kind at the next character. `what` names it in
    /// messages (the key, or "an array element").
    fn parse_value(&mut self, what: &str) -> Result<Value, ConfError> {
        let what = if what.is_empty() { "''" } else { what };
        match self.lx.peek() {
            None => Err(self.lx.error(format!(
                "expected a value for '{what}', found the end of the file"
            ))),
            Some('[') => self.nested(|p| p.parse_array()),
            Some('{') => self.nested(|p| p.parse_map()),
            Some(_) if self.lx.at_comment() => Err(self
                .lx
                .error(format!("expected a value for '{what}', found a comment"))),
            Some(c) if c.is_whitespace() || matches!(c, ',' | ';' | ']' | '}') => {
                Err(self.lx.error(format!(
                    "expected a value for '{what}', found '{}'",
                    show(c)
                )))
            }
            Some(_) => {
                let (scalar, pos) = self.lx.read_scalar()?;
                let kind = match scalar {
                    Scalar::Str(s) => ValueKind::String(s),
                    Scalar::Int(n) => ValueKind::Integer(n),
                    Scalar::Float(f) => ValueKind::Float(f),
                    Scalar::Bool(b) => ValueKind::Bool(b),
                    Scalar::Var(name) => return self.resolve(&name, &pos),
                };
                Ok(Value::new(kind, pos))
            }
        }
    }

    /// Run `f` one nesting level deeper, refusing to go past [`MAX_NESTING`].
    fn nested(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<Value, ConfError>,
    ) -> Result<Value, ConfError> {
        if self.depth >= MAX_NESTING {
            return Err(self.lx.error(format!(
                "arrays and maps nest deeper than {MAX_NESTING} levels"
            )));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn parse_array(&mut self) -> Result<Value, ConfError> {
        let open = self.lx.pos();
        self.lx.bump();
        let mut items = Vec::new();
        let unclosed = |p: &Self| {
            p.lx.error(format!(
                "unexpected end of file: the '[' at {}:{} is not closed",
                open.line, open.col
            ))
        };
        loop {
            self.lx.skip_space_and_comments();
            match self.lx.peek() {
                None => return Err(unclosed(self)),
                Some(']') => {
                    self.lx.bump();
                    break;
                }
                Some(',') => return Err(self.lx.error("unexpected ',' in an array")),
                Some(_) => {}
            }
            items.push(self.parse_value("an array element")?);
            self.lx.skip_blanks();
            if self.lx.at_comment() {
                self.lx.skip_comment();
            }
            match self.lx.peek() {
                None => return Err(unclosed(self)),
                Some(']') => {
                    self.lx.bump();
                    break;
                }
                Some(c) if c == ',' || is_newline(c) => {
                    self.lx.bump();
                }
                Some(c) => {
                    return Err(self.lx.error(format!(
                        "expected ',' or ']' after an array element, found '{}'",
                        show(c)
                    )))
                }
            }
        }
        Ok(Value::new(ValueKind::Array(items), open))
    }

    fn parse_map(&mut self) -> Result<Value, ConfError> {
        let open = self.lx.pos();
        self.lx.bump();
        self.scopes.push(Map::new());
        self.parse_entries(Some(&open))?;
        let map = self.scopes.pop().unwrap_or_default();
        Ok(Value::new(ValueKind::Map(map), open))
    }

    /// The value of `$name` referenced at `pos`.
    fn resolve(&mut self, name: &str, pos: &Pos) -> Result<Value, ConfError> {
        if is_bcrypt_hash_tail(name) {
            return Ok(Value::new(
                ValueKind::String(format!("${name}")),
                pos.clone(),
            ));
        }
        for scope in self.scopes.iter_mut().rev() {
            if let Some(entry) = scope.entry_exact_mut(name) {
                entry.used_as_variable = true;
                let mut value = entry.value.clone();
                value.pos = pos.clone();
                return Ok(value);
            }
        }
        if self.shared.env_refs.iter().any(|r| r == name) {
            self.variable_failed = true;
            return Err(ConfError::at(
                pos,
                format!("variable reference cycle for '{name}'"),
            ));
        }
        match std::env::var(name) {
            Ok(text) => {
                self.shared.env_refs.push(name.to_string());
                let result = self.parse_env_value(name, &text, pos);
                self.shared.env_refs.pop();
                if result.is_err() {
                    self.variable_failed = true;
                }
                result
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                self.variable_failed = true;
                Err(ConfError::at(
                    pos,
                    format!("environment variable '{name}' is not valid UTF-8"),
                ))
            }
            Err(std::env::VarError::NotPresent) => {
                self.variable_failed = true;
                Err(ConfError::at(
                    pos,
                    format!(
                        "variable reference for '{name}' can not be found \
                         (not defined above, nor in the environment)"
                    ),
                ))
            }
        }
    }

    /// An environment variable's text, read as one value as nats-server
    /// does (`4222` is an integer, `[a, b]` an array). Text that is not one
    /// value (`two words`) is taken as a plain string.
    fn parse_env_value(&mut self, name: &str, text: &str, pos: &Pos) -> Result<Value, ConfError> {
        let file = self.lx.file().clone();
        let mut sub = Parser::new(text, file, self.shared, self.depth + 1);
        sub.lx.skip_blanks();
        let parsed = if sub.depth > MAX_NESTING || sub.lx.at_eof() {
            Ok(None)
        } else {
            sub.parse_value(name).map(|value| {
                sub.lx.skip_space_and_comments();
                sub.lx.at_eof().then_some(value)
            })
        };
        let mut value = match parsed {
            Ok(Some(value)) => value,
            Err(e) if sub.variable_failed => {
                return Err(ConfError::at(
                    pos,
                    format!("in environment variable '{name}': {}", e.message),
                ))
            }
            Ok(None) | Err(_) => Value::new(ValueKind::String(text.to_string()), pos.clone()),
        };
        value.set_pos_deep(pos);
        Ok(value)
    }

    /// `include <file>`: the lexer is just after the keyword.
    fn parse_include(&mut self, at: &Pos) -> Result<(), ConfError> {
        let (name, name_pos) = self.lx.read_include_name()?;
        let base = self.lx.file().parent().unwrap_or(Path::new(""));
        let path: PathBuf = base
            .join(&name)
            .components()
            .filter(|c| *c != Component::CurDir)
            .collect();
        if self.shared.include_chain.len() > MAX_INCLUDE_DEPTH {
            return Err(ConfError::at(
                &name_pos,
                format!("includes nest deeper than {MAX_INCLUDE_DEPTH} levels"),
            ));
        }
        let canonical = path.canonicalize().map_err(|e| {
            ConfError::at(
                &name_pos,
                format!("error opening include file '{name}': {e}"),
            )
        })?;
        if self.shared.include_chain.contains(&canonical) {
            return Err(ConfError::at(
                &name_pos,
                format!("include loop: '{name}' is already being parsed"),
            ));
        }
        let text = read_text(&path, Some(&name_pos))?;
        self.shared.include_chain.push(canonical);
        let depth = self.depth;
        let result =
            Parser::new(&text, Arc::from(path.as_path()), self.shared, depth).parse_document();
        self.shared.include_chain.pop();
        let map = result.map_err(|mut e| {
            e.message = format!("{} (in the file included at {at})", e.message);
            e
        })?;
        for entry in map {
            self.scope().push(entry);
        }
        Ok(())
    }
}

/// True for the part after `$` of a bcrypt hash: `2a$NN$...` (or 2b, 2x,
/// 2y). nats-server special-cases `2a$` so hashes need no quotes.
fn is_bcrypt_hash_tail(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 6
        && b[0] == b'2'
        && matches!(b[1], b'a' | b'b' | b'x' | b'y')
        && b[2] == b'$'
        && b[3].is_ascii_digit()
        && b[4].is_ascii_digit()
        && b[5] == b'$'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Map {
        parse_str(text, Path::new("t.conf")).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
    }

    fn error(text: &str) -> String {
        match parse_str(text, Path::new("t.conf")) {
            Ok(m) => panic!("parsed, expected an error: {m:?}\n---\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    fn int(m: &Map, k: &str) -> i64 {
        m.get(k)
            .and_then(Value::as_int)
            .unwrap_or_else(|| panic!("{k}: {:?}", m.get(k)))
    }

    fn string<'a>(m: &'a Map, k: &str) -> &'a str {
        m.get(k)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{k}: {:?}", m.get(k)))
    }

    fn map<'a>(m: &'a Map, k: &str) -> &'a Map {
        m.get(k)
            .and_then(Value::as_map)
            .unwrap_or_else(|| panic!("{k}: {:?}", m.get(k)))
    }

    #[test]
    fn separators_and_terminators() {
        let m = parse("a: 1\nb = 2\nc 3\nd\t4\ne   :   5;\nf=6, g: 7; h 8\n");
        for (k, v) in [
            ("a", 1),
            ("b", 2),
            ("c", 3),
            ("d", 4),
            ("e", 5),
            ("f", 6),
            ("g", 7),
            ("h", 8),
        ] {
            assert_eq!(int(&m, k), v, "{k}");
        }
        // Keys may be quoted.
        let m = parse("\"a b\": 1\n'c': 2");
        assert_eq!(int(&m, "a b"), 1);
        assert_eq!(int(&m, "c"), 2);
        // Key and value on separate lines, without a separator (nats-server
        // allows it).
        let m = parse("authorization\n{\n user: a\n}");
        assert_eq!(string(map(&m, "authorization"), "user"), "a");
    }

    #[test]
    fn maps_with_and_without_separator() {
        for text in [
            "authorization { user: a }",
            "authorization: { user: a }",
            "authorization = {user = a}",
            "authorization{user a}",
            "authorization {\n  user: a\n}\n",
            "authorization {\n  user: a,\n}",
            "authorization {\n  user: a;\n}",
        ] {
            let m = parse(text);
            assert_eq!(string(map(&m, "authorization"), "user"), "a", "{text}");
        }
        let m = parse("a { b { c { d: 1 } } }");
        assert_eq!(int(map(map(map(&m, "a"), "b"), "c"), "d"), 1);
        // Values in a map may start on the next line after the separator.
        let m = parse("a {\n b =\n  2\n}");
        assert_eq!(int(map(&m, "a"), "b"), 2);
    }

    #[test]
    fn arrays() {
        let m = parse("a: [1, two, 3.5, true, {x: 1}, [2]]");
        let a = m.get("a").and_then(Value::as_array).unwrap();
        assert_eq!(a.len(), 6);
        assert_eq!(a[0].as_int(), Some(1));
        assert_eq!(a[1].as_str(), Some("two"));
        assert_eq!(a[2].as_f64(), Some(3.5));
        assert_eq!(a[3].as_bool(), Some(true));
        assert_eq!(
            a[4].as_map()
                .and_then(|m| m.get("x"))
                .and_then(Value::as_int),
            Some(1)
        );
        assert_eq!(a[5].as_array().map(<[Value]>::len), Some(1));
        // New lines separate too, comments are allowed, a trailing comma too.
        let m = parse("a = [\n  x # one\n  y, // two\n  z,\n]\nb: []");
        let a: Vec<_> = m
            .get("a")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(a, ["x", "y", "z"]);
        assert_eq!(m.get("b").unwrap().as_array().unwrap().len(), 0);
        assert_eq!(error("a: [1,,2]"), "t.conf:1:7: unexpected ',' in an array");
        assert_eq!(error("a: [,1]"), "t.conf:1:5: unexpected ',' in an array");
        assert_eq!(
            error("a: [1 2]"),
            "t.conf:1:7: expected ',' or ']' after an array element, found '2'"
        );
        assert_eq!(
            error("a: [1,\n2"),
            "t.conf:2:2: unexpected end of file: the '[' at 1:4 is not closed"
        );
    }

    #[test]
    fn comments_everywhere() {
        let m = parse(
            "# top\n// also\nport: 4222 # trailing\nhost: h // trailing\n\
             m {\n # in map\n a: 1 // after\n // b: 2\n}\nurl: nats://h:4222/x#y\n#end",
        );
        assert_eq!(int(&m, "port"), 4222);
        assert_eq!(string(&m, "host"), "h");
        assert_eq!(map(&m, "m").len(), 1);
        // '#' and '//' inside a bare value are part of it.
        assert_eq!(string(&m, "url"), "nats://h:4222/x#y");
        assert!(parse("").is_empty());
        assert!(parse("# only a comment").is_empty());
        assert!(parse("\n\n  \t\n").is_empty());
        assert_eq!(
            error("a: # no value"),
            "t.conf:1:4: expected a value for 'a', found a comment"
        );
    }

    #[test]
    fn any_whitespace_splits() {
        for text in [
            "port 4222",
            "port\t4222",
            "port \t 4222",
            "port:4222",
            "port=\t4222",
            "\u{feff}port 4222",
            "port 4222\r\n",
        ] {
            assert_eq!(int(&parse(text), "port"), 4222, "{text:?}");
        }
        let m = parse("a 1\r\nb 2\r\n");
        assert_eq!(int(&m, "b"), 2);
        assert_eq!(
            error("a 1\r\nb c d"),
            "t.conf:2:5: expected a new line, ';' or ',' after a value, found 'd'"
        );
    }

    #[test]
    fn json_is_a_config() {
        let m = parse(
            r#"{
              "port": 4222,
              "debug": false,
              "authorization": {"users": [{"user": "a", "password": "p\u0041"}]},
              "ratio": 1.5e2
            }"#,
        );
        assert_eq!(int(&m, "port"), 4222);
        assert_eq!(m.get("debug").and_then(Value::as_bool), Some(false));
        assert_eq!(m.get("ratio").and_then(Value::as_f64), Some(150.0));
        let users = map(&m, "authorization")
            .get("users")
            .unwrap()
            .as_array()
            .unwrap();
        assert_eq!(
            users[0].as_map().unwrap().get("password").unwrap().as_str(),
            Some("pA")
        );
        assert_eq!(
            error("{ \"a\": 1 } x"),
            "t.conf:1:12: unexpected 'x' after the '}' that closes the file's '{'"
        );
        assert_eq!(
            error("{ \"a\": 1 "),
            "t.conf:1:10: unexpected end of file: the '{' at 1:1 is not closed"
        );
    }

    #[test]
    fn keys_keep_case_and_match_without_it() {
        let m = parse("Port: 1\nMAX_PAYLOAD: 2");
        assert_eq!(m.iter().next().unwrap().key, "Port");
        assert_eq!(int(&m, "port"), 1);
        assert_eq!(int(&m, "max_payload"), 2);
        // The last of duplicate keys wins, at its own place in the order.
        let m = parse("a: 1\nb: 2\na: 3");
        let keys: Vec<_> = m.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(int(&m, "a"), 3);
    }

    #[test]
    fn positions() {
        let m = parse("a: 1\n  bb = \"x\"\nc {\n\td: [1,\n   2]\n}");
        let pos = |v: &Value| (v.pos.line, v.pos.col);
        assert_eq!(pos(m.get("a").unwrap()), (1, 4));
        let bb = m.entry("bb").unwrap();
        assert_eq!((bb.key_pos.line, bb.key_pos.col), (2, 3));
        assert_eq!(pos(&bb.value), (2, 8));
        let c = map(&m, "c");
        let d = c.get("d").unwrap();
        assert_eq!(pos(d), (4, 5));
        assert_eq!(pos(&d.as_array().unwrap()[1]), (5, 4));
        assert_eq!(&*d.pos.file, Path::new("t.conf"));
    }

    #[test]
    fn syntax_errors_have_positions() {
        assert_eq!(
            error("port:\n4222"),
            "t.conf:1:6: expected a value for 'port', found a new line"
        );
        assert_eq!(
            error("port"),
            "t.conf:1:5: expected a value for 'port', found the end of the file"
        );
        assert_eq!(error(": 1"), "t.conf:1:1: unexpected key separator ':'");
        assert_eq!(error("a: 1\n}"), "t.conf:2:1: unexpected '}'");
        assert_eq!(
            error("a {\n b: 1\n"),
            "t.conf:3:1: unexpected end of file: the '{' at 1:3 is not closed"
        );
        assert_eq!(
            error("a: 1 2"),
            "t.conf:1:6: expected a new line, ';' or ',' after a value, found '2'"
        );
        assert_eq!(
            error("a: ,"),
            "t.conf:1:4: expected a value for 'a', found ','"
        );
        assert_eq!(error("a {\n  b: \"x\n}"), "t.conf:2:6: unterminated string");
        assert_eq!(
            error("a: {b: 1} c"),
            "t.conf:1:11: expected a new line, ';' or ',' after a value, found 'c'"
        );
        assert_eq!(error("a: 1;;"), "t.conf:1:6: unexpected ';'");
    }

    #[test]
    fn variables_block_scoped() {
        let m = parse(
            "TOP: 1\n\
             a {\n  X: 2\n  x_ref: $X\n  top_ref: $TOP\n  b {\n    X: 3\n    inner: $X\n    outer_top: $TOP\n  }\n  after: $X\n}\n\
             arr: [$TOP, {y: $TOP}]",
        );
        let a = map(&m, "a");
        assert_eq!(int(a, "x_ref"), 2);
        assert_eq!(int(a, "top_ref"), 1);
        assert_eq!(int(map(a, "b"), "inner"), 3);
        assert_eq!(int(map(a, "b"), "outer_top"), 1);
        assert_eq!(int(a, "after"), 2);
        let arr = m.get("arr").unwrap().as_array().unwrap();
        assert_eq!(arr[0].as_int(), Some(1));
        // Definitions are marked as used, others not.
        assert!(m.entry("TOP").unwrap().used_as_variable);
        assert!(a.entry("X").unwrap().used_as_variable);
        assert!(!a.entry("x_ref").unwrap().used_as_variable);
        // A variable's value takes the reference's position.
        let r = a.get("x_ref").unwrap();
        assert_eq!((r.pos.line, r.pos.col), (4, 10));
        // Variables are case-sensitive and must be defined before use.
        assert_eq!(
            error("a: $NATS_LITE_TEST_UNDEFINED_1\n"),
            "t.conf:1:4: variable reference for 'NATS_LITE_TEST_UNDEFINED_1' can not be found \
             (not defined above, nor in the environment)"
        );
        assert!(error("x: 1\ny: $X_nope_not_defined").starts_with("t.conf:2:4: variable reference"));
        // A map-valued variable.
        let m = parse("P = { publish: \">\" }\nu { permissions: $P }");
        assert_eq!(string(map(map(&m, "u"), "permissions"), "publish"), ">");
        // Quoted '$' is not a variable.
        assert_eq!(string(&parse("a: \"$NOPE\""), "a"), "$NOPE");
        assert!(error("a: $").contains("'$' must be followed by a variable name"));
    }

    #[test]
    fn bcrypt_hashes_are_not_variables() {
        let hash = "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG";
        let m = parse(&format!("password: {hash}\nb: $2b$10$abc"));
        assert_eq!(string(&m, "password"), hash);
        assert_eq!(string(&m, "b"), "$2b$10$abc");
    }

    #[test]
    fn environment_variables() {
        // Each test uses its own variable names: tests run in parallel.
        std::env::set_var("NATS_LITE_TEST_ENV_PORT", "4333");
        std::env::set_var("NATS_LITE_TEST_ENV_WORDS", "two words");
        std::env::set_var("NATS_LITE_TEST_ENV_LIST", "[a, b]");
        std::env::set_var("NATS_LITE_TEST_ENV_SIZE", "2kb");
        std::env::set_var("NATS_LITE_TEST_ENV_CYCLE_A", "$NATS_LITE_TEST_ENV_CYCLE_B");
        std::env::set_var("NATS_LITE_TEST_ENV_CYCLE_B", "$NATS_LITE_TEST_ENV_CYCLE_A");
        std::env::set_var("NATS_LITE_TEST_ENV_CHAIN", "$NATS_LITE_TEST_ENV_PORT");
        let m = parse(
            "port: $NATS_LITE_TEST_ENV_PORT\nw: $NATS_LITE_TEST_ENV_WORDS\n\
             l: $NATS_LITE_TEST_ENV_LIST\ns: $NATS_LITE_TEST_ENV_SIZE\nc: $NATS_LITE_TEST_ENV_CHAIN",
        );
        assert_eq!(int(&m, "port"), 4333);
        assert_eq!(string(&m, "w"), "two words");
        let l = m.get("l").unwrap();
        assert_eq!(l.as_array().unwrap().len(), 2);
        assert_eq!(l.as_array().unwrap()[1].pos.line, 3);
        assert_eq!(int(&m, "s"), 2048);
        assert_eq!(int(&m, "c"), 4333);
        let e = error("x: 1\na: $NATS_LITE_TEST_ENV_CYCLE_A");
        assert!(e.starts_with("t.conf:2:4: "), "{e}");
        assert!(e.contains("variable reference cycle"), "{e}");
        // A definition in the file wins over the environment.
        let m = parse("NATS_LITE_TEST_ENV_PORT: 1\np: $NATS_LITE_TEST_ENV_PORT");
        assert_eq!(int(&m, "p"), 1);
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!(
            "a: {}{}",
            "[".repeat(MAX_NESTING + 5),
            "]".repeat(MAX_NESTING + 5)
        );
        assert!(error(&deep).contains("nest deeper"));
        let deep_maps = format!(
            "{}{}",
            "a {".repeat(MAX_NESTING + 5),
            "}".repeat(MAX_NESTING + 5)
        );
        assert!(error(&deep_maps).contains("nest deeper"));
        let ok = format!(
            "a: {}{}",
            "[".repeat(MAX_NESTING - 1),
            "]".repeat(MAX_NESTING - 1)
        );
        parse(&ok);
    }

    #[test]
    fn no_panics_on_junk() {
        // Every prefix of a config that exercises most of the syntax, plus
        // some junk: errors are fine, panics are not.
        let text =
            "a { b: [1, 'x', \"y\\t\", {c: $a}], d = (\nblock\n) }\r\ninclude nothing.conf\n\
                    e: 1kb; f: -2.5e3, g: \"\\u00e9\\x41\" // c\n# h\n";
        for end in 0..=text.len() {
            if text.is_char_boundary(end) {
                let _ = parse_str(&text[..end], Path::new("t.conf"));
            }
        }
        for junk in [
            "{",
            "}",
            "[",
            "]",
            "{{",
            "]]",
            "\"",
            "'",
            "\\",
            "$",
            "(",
            ")",
            ":",
            "=",
            ",",
            ";",
            "a:[",
            "a:{",
            "a b c",
            "\0",
            "a: \u{0}",
            "include",
            "include ",
            "include \"",
            "a: 1e999",
            "a: -",
        ] {
            let _ = parse_str(junk, Path::new("t.conf"));
        }
    }

    #[test]
    fn no_panics_on_random_input() {
        // A fixed xorshift stream over the format's special characters and
        // a few words: thousands of odd inputs, run through both layers.
        const PIECES: &[&str] = &[
            "{",
            "}",
            "[",
            "]",
            ":",
            "=",
            ",",
            ";",
            "\n",
            "\r",
            " ",
            "\t",
            "#",
            "//",
            "\"",
            "'",
            "\\",
            "$",
            "(",
            ")",
            "a",
            "port",
            "include",
            "x.conf",
            "1",
            "-",
            "1k",
            "0.5",
            "true",
            "$a",
            "$2a$11$x",
            "\\x4",
            "\\u00",
            "authorization",
            "users",
            "permissions",
            "tls",
            "é",
            "\u{0}",
            "accounts",
            "cluster",
            "routes",
            "nats://h:1",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3000 {
            let len = (next() % 40) as usize;
            let text: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            if let Ok(map) = parse_str(&text, Path::new("fuzz.conf")) {
                let _ = crate::conf::ServerConfig::from_value(&map);
            }
        }
    }

    #[test]
    fn large_inputs_stay_linear() {
        // Many keys, many duplicates and many references: quick, whatever
        // the shape (a fuzzer's time limit is a finding too).
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&format!("k{i}: {i}\nr{i}: $k0\nk{}: $k{i}\n", i % 100));
        }
        let start = std::time::Instant::now();
        let m = parse(&text);
        assert_eq!(m.len(), 40_000);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("nats-lite-conf-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        dir
    }

    #[test]
    fn includes() {
        let dir = temp_dir("include");
        std::fs::write(
            dir.join("main.conf"),
            "port: 1\ninclude ./sub/auth.conf\nm {\n  include 'sub/inner.conf'\n}\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("sub/auth.conf"),
            "authorization { user: a }\nINNER_USER: bob\ninclude \"deeper.conf\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("sub/deeper.conf"), "debug: true\n").unwrap();
        std::fs::write(dir.join("sub/inner.conf"), "x: 5\n").unwrap();
        let m = parse_file(dir.join("main.conf")).unwrap();
        assert_eq!(int(&m, "port"), 1);
        assert_eq!(string(map(&m, "authorization"), "user"), "a");
        assert_eq!(m.get("debug").and_then(Value::as_bool), Some(true));
        assert_eq!(int(map(&m, "m"), "x"), 5);
        // Positions name the included file.
        let user = map(&m, "authorization").get("user").unwrap();
        assert!(user.pos.file.ends_with("sub/auth.conf"), "{}", user.pos);
        // The includer may use variables the included file defines.
        std::fs::write(
            dir.join("vars.conf"),
            "include sub/auth.conf\nwho: $INNER_USER\n",
        )
        .unwrap();
        assert_eq!(
            string(&parse_file(dir.join("vars.conf")).unwrap(), "who"),
            "bob"
        );
        // Errors inside an include name the included file and the include.
        std::fs::write(dir.join("sub/bad.conf"), "a: [\n").unwrap();
        std::fs::write(dir.join("bad.conf"), "x: 1\ninclude sub/bad.conf\n").unwrap();
        let e = parse_file(dir.join("bad.conf")).unwrap_err().to_string();
        assert!(
            e.contains("sub/bad.conf:2:1: unexpected end of file"),
            "{e}"
        );
        assert!(
            e.contains("(in the file included at ") && e.contains("bad.conf:2:1)"),
            "{e}"
        );
        // A missing include.
        std::fs::write(dir.join("missing.conf"), "include nope.conf\n").unwrap();
        let e = parse_file(dir.join("missing.conf"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing.conf:1:9: error opening include file 'nope.conf'"),
            "{e}"
        );
        // Loops are refused.
        std::fs::write(dir.join("loop.conf"), "include loop2.conf\n").unwrap();
        std::fs::write(dir.join("loop2.conf"), "include ./loop.conf\n").unwrap();
        let e = parse_file(dir.join("loop.conf")).unwrap_err().to_string();
        assert!(e.contains("include loop"), "{e}");
        std::fs::write(dir.join("self.conf"), "include self.conf\n").unwrap();
        assert!(parse_file(dir.join("self.conf"))
            .unwrap_err()
            .to_string()
            .contains("include loop"));
        // parse_str resolves includes against its origin's directory.
        let m = parse_str("include sub/inner.conf", &dir.join("virtual.conf")).unwrap();
        assert_eq!(int(&m, "x"), 5);
        // A quoted "include" is an ordinary key, as is one with a separator.
        let m = parse("\"include\" x\ninclude: y");
        assert_eq!(string(&m, "include"), "y");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn include_depth_is_bounded() {
        let dir = temp_dir("depth");
        for i in 0..MAX_INCLUDE_DEPTH + 3 {
            std::fs::write(
                dir.join(format!("{i}.conf")),
                format!("include {}.conf\n", i + 1),
            )
            .unwrap();
        }
        std::fs::write(
            dir.join(format!("{}.conf", MAX_INCLUDE_DEPTH + 3)),
            "a: 1\n",
        )
        .unwrap();
        let e = parse_file(dir.join("0.conf")).unwrap_err().to_string();
        assert!(e.contains("includes nest deeper"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unreadable_files() {
        let e = parse_file("/nonexistent/nats-lite.conf").unwrap_err();
        assert!(e.pos.is_none());
        assert!(e
            .to_string()
            .starts_with("error opening config file '/nonexistent/nats-lite.conf'"));
        let dir = temp_dir("utf8");
        std::fs::write(dir.join("bin.conf"), b"a: 1\nb: \xff\n").unwrap();
        let e = parse_file(dir.join("bin.conf")).unwrap_err().to_string();
        assert!(
            e.ends_with("bin.conf:2:4: the file is not valid UTF-8"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
