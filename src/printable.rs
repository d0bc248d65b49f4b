//! Text from the network made safe for a terminal or a log: control
//! characters (C0, DEL, C1) and the Unicode bidirectional controls are
//! shown as `\u{1b}` escapes, so a client name, a subject or a server's
//! error text cannot move the cursor, retitle the window or reorder what an
//! operator reads. The client tools print through [`printable`]; the
//! server's log lines go through [`printable_lines`]. Message payloads that
//! `sub`, `req` and `cat` print are left raw by design (they are the data;
//! `--json` escapes them).

use std::borrow::Cow;

/// True for a character that must not reach a terminal as is.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every unsafe character escaped (borrowed when there is none).
pub fn printable(s: &str) -> Cow<'_, str> {
    escape(s, is_unsafe)
}

/// Like [`printable`], keeping line breaks and tabs: for log messages,
/// which may span lines (a client cannot put either in what is logged of
/// it: they end or split protocol lines).
pub fn printable_lines(s: &str) -> Cow<'_, str> {
    escape(s, |c| is_unsafe(c) && c != '\n' && c != '\t')
}

fn escape(s: &str, unsafe_char: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Escape every string (and object key) in a JSON value, in place: what
/// `top` shows of `/varz` and `/connz` comes from the network.
pub fn printable_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            if let Cow::Owned(o) = printable(s) {
                *s = o;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(printable_json),
        serde_json::Value::Object(map) => {
            let entries = std::mem::take(map);
            for (k, mut item) in entries {
                printable_json(&mut item);
                map.insert(printable(&k).into_owned(), item);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("plain name"), "plain name");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("t\tn\nr\r"), "t\\u{9}n\\u{a}r\\u{d}");
        assert_eq!(printable("\u{7f}\u{9b}"), "\\u{7f}\\u{9b}");
        assert_eq!(printable("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(printable("héllo ✓"), "héllo ✓");
        assert_eq!(printable_lines("a\u{1b}b\nc\td"), "a\\u{1b}b\nc\td");
    }

    #[test]
    fn json_strings_and_keys_are_escaped() {
        let mut v = serde_json::json!({"name": "\u{1b}]0;pwned\u{7}", "subs": ["ok", "a\u{1b}b"], "n": 1, "k\u{1b}": true});
        printable_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"name": "\\u{1b}]0;pwned\\u{7}", "subs": ["ok", "a\\u{1b}b"], "n": 1, "k\\u{1b}": true})
        );
    }
}
