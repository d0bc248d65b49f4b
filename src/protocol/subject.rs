//! Subject rules: tokens separated by `.`, `*` matching exactly one token and
//! `>` one or more trailing tokens. A `*` or `>` inside a longer token is a
//! literal character (`foo*.bar` is a literal subject).
//!
//! The checks follow nats-server's `IsValidSubject` and
//! `IsValidLiteralSubject` (end of `server/sublist.go`).

/// `*`: matches one token.
pub const PWC: u8 = b'*';
/// `>`: matches one or more tokens at the end.
pub const FWC: u8 = b'>';
/// Token separator.
pub const TSEP: u8 = b'.';

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

/// A subject usable in SUB: non-empty tokens, no white space, and `>` only as
/// the last token.
pub fn is_valid_subject(subject: &[u8]) -> bool {
    if subject.is_empty() {
        return false;
    }
    let mut seen_fwc = false;
    for token in subject.split(|&b| b == TSEP) {
        if token.is_empty() || seen_fwc {
            return false;
        }
        if token.iter().any(|&b| is_space(b)) {
            return false;
        }
        if token == [FWC] {
            seen_fwc = true;
        }
    }
    true
}

/// A subject usable in PUB under pedantic mode: valid and with no wildcard token.
pub fn is_valid_literal_subject(subject: &[u8]) -> bool {
    is_valid_subject(subject) && is_literal(subject)
}

/// True when no token is a wildcard.
pub fn is_literal(subject: &[u8]) -> bool {
    !subject
        .split(|&b| b == TSEP)
        .any(|t| t == [PWC] || t == [FWC])
}

/// Does `pattern` (possibly with wildcards) match the literal `subject`?
/// A plain token-by-token walk: the reference the subject index is tested against.
pub fn matches(pattern: &[u8], subject: &[u8]) -> bool {
    let mut p = pattern.split(|&b| b == TSEP);
    let mut s = subject.split(|&b| b == TSEP);
    loop {
        match (p.next(), s.next()) {
            (Some(pt), Some(_)) if pt == [FWC] => return true,
            (Some(pt), Some(st)) if pt == [PWC] || pt == st => continue,
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Does the subscription pattern `a` cover every subject that pattern `b`
/// matches? (Used for permissions: may a wildcard SUB be allowed?)
pub fn is_subset(b: &[u8], a: &[u8]) -> bool {
    let mut at = a.split(|&x| x == TSEP);
    let mut bt = b.split(|&x| x == TSEP);
    loop {
        match (at.next(), bt.next()) {
            (Some(x), Some(_)) if x == [FWC] => return true,
            (Some(x), Some(y)) if x == [PWC] && y != [FWC] => continue,
            (Some(x), Some(y)) if x == y => continue,
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity() {
        for ok in [
            "foo", "foo.bar", "foo.*", "foo.>", "*", ">", "foo*.bar", "*.*.>", "a.b.c",
        ] {
            assert!(is_valid_subject(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "a..b",
            "foo.",
            ".foo",
            "foo.>.bar",
            ".",
            "a b",
            "a\tb",
            ">.a",
        ] {
            assert!(!is_valid_subject(bad.as_bytes()), "{bad}");
        }
        assert!(is_valid_literal_subject(b"foo*.bar"));
        assert!(!is_valid_literal_subject(b"foo.*"));
        assert!(!is_valid_literal_subject(b">"));
        assert!(!is_valid_literal_subject(b"a..b"));
    }

    #[test]
    fn wildcard_matching() {
        assert!(matches(b"w.*", b"w.x"));
        assert!(!matches(b"w.*", b"w"));
        assert!(!matches(b"w.*", b"w.x.y"));
        assert!(matches(b"w.>", b"w.x.y"));
        assert!(!matches(b"w.>", b"w"));
        assert!(matches(b">", b"a"));
        assert!(matches(b"foo*.bar", b"foo*.bar"));
        assert!(!matches(b"foo*.bar", b"fooX.bar"));
        assert!(matches(b"*.b.*", b"a.b.c"));
    }

    #[test]
    fn subsets() {
        assert!(is_subset(b"foo.bar", b"foo.*"));
        assert!(is_subset(b"foo.*", b"foo.>"));
        assert!(!is_subset(b"foo.>", b"foo.*"));
        assert!(!is_subset(b"foo.*", b"foo.bar"));
        assert!(is_subset(b"a.b.c", b">"));
    }
}
