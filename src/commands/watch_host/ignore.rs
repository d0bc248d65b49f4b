//! Which file changes are not counted, and which directories are not
//! watched at all: extensions (`.swp`), globs (`*.tmp`, `cache/**`) and
//! dot-directories (`.git`). Pure: paths in, yes or no out.
//!
//! Paths are relative to the watched target. A glob without `/` is matched
//! against the file name alone; one with `/` against the whole relative
//! path. `*` and `?` do not cross `/`; `**` does. A directory that a glob or
//! the dot-directory rule ignores is not watched, which also saves kernel
//! watches.

use std::path::{Component, Path};

/// The ignore rules of the file-change counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    /// Extensions without their dot, compared ignoring ASCII case.
    extensions: Vec<String>,
    /// Globs as given.
    globs: Vec<String>,
    /// Ignore everything under a directory whose name starts with `.`.
    dot_directories: bool,
}

impl Ignore {
    /// Rules from extensions (`.swp` or `swp`), globs and the dot-directory
    /// switch.
    pub fn new(extensions: &[String], globs: &[String], dot_directories: bool) -> Ignore {
        Ignore {
            extensions: extensions
                .iter()
                .map(|e| e.trim_start_matches('.').to_ascii_lowercase())
                .filter(|e| !e.is_empty())
                .collect(),
            globs: globs.to_vec(),
            dot_directories,
        }
    }

    /// True when a change of the file at `rel` is not counted.
    pub fn ignores_file(&self, rel: &Path) -> bool {
        if let Some(parent) = rel.parent() {
            if self.ignores_dir(parent) {
                return true;
            }
        }
        let ext = rel
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if ext.is_some_and(|e| self.extensions.contains(&e)) {
            return true;
        }
        self.glob_matches(rel)
    }

    /// True when the directory at `rel` (the target itself is `""`) and
    /// everything under it are left out.
    pub fn ignores_dir(&self, rel: &Path) -> bool {
        if rel.as_os_str().is_empty() {
            return false;
        }
        if self.dot_directories
            && rel.components().any(|c| match c {
                Component::Normal(n) => n.to_str().is_some_and(|n| n.starts_with('.')),
                _ => false,
            })
        {
            return true;
        }
        let mut at = Some(rel);
        while let Some(p) = at.filter(|p| !p.as_os_str().is_empty()) {
            if self.glob_matches(p) {
                return true;
            }
            at = p.parent();
        }
        false
    }

    fn glob_matches(&self, rel: &Path) -> bool {
        if self.globs.is_empty() {
            return false;
        }
        let whole = rel.to_string_lossy().replace('\\', "/");
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        self.globs.iter().any(|g| {
            if g.contains('/') {
                glob_match(g.trim_start_matches('/').as_bytes(), whole.as_bytes())
            } else {
                glob_match(g.as_bytes(), name.as_bytes())
            }
        })
    }
}

/// Shell-style matching: `*` any run of bytes but `/`, `**` any run of
/// bytes, `?` one byte but `/`, anything else itself.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => {
            let (crosses, rest) = match rest.split_first() {
                Some((b'*', r)) => (true, r.strip_prefix(b"/").unwrap_or(r)),
                _ => (false, rest),
            };
            // Try every split point, shortest first.
            for i in 0..=text.len() {
                if glob_match(rest, &text[i..]) {
                    return true;
                }
                if i < text.len() && text[i] == b'/' && !crosses {
                    return false;
                }
            }
            false
        }
        Some((b'?', rest)) => match text.split_first() {
            Some((c, t)) if *c != b'/' => glob_match(rest, t),
            _ => false,
        },
        Some((p, rest)) => match text.split_first() {
            Some((c, t)) if c == p => glob_match(rest, t),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(ext: &[&str], globs: &[&str], dot: bool) -> Ignore {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Ignore::new(&s(ext), &s(globs), dot)
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"*.tmp", b"a.tmp"));
        assert!(!glob_match(b"*.tmp", b"d/a.tmp"));
        assert!(glob_match(b"**/*.tmp", b"d/e/a.tmp"));
        assert!(glob_match(b"cache/**", b"cache/x/y"));
        assert!(glob_match(b"?.log", b"a.log"));
        assert!(!glob_match(b"?.log", b"ab.log"));
        assert!(glob_match(b"4913", b"4913"));
        assert!(!glob_match(b"a*", b"b"));
    }

    #[test]
    fn the_originals_rules() {
        let r = rules(&[".swp", ".swpx", ".LOCK"], &[], true);
        assert!(r.ignores_file(Path::new("a.swp")));
        assert!(
            r.ignores_file(Path::new("d/a.lock")),
            "case does not matter"
        );
        assert!(r.ignores_file(Path::new(".git/index")));
        assert!(r.ignores_file(Path::new("d/.cache/x/y")));
        assert!(!r.ignores_file(Path::new(".bashrc")), "dot-files count");
        assert!(!r.ignores_file(Path::new("d/a.txt")));
        assert!(r.ignores_dir(Path::new("d/.git")));
        assert!(!r.ignores_dir(Path::new("")));
        let r = rules(&[], &[], false);
        assert!(!r.ignores_file(Path::new(".git/index")));
    }

    #[test]
    fn globs_on_names_and_paths() {
        let r = rules(&[], &["*.tmp", "build/**", "logs"], false);
        assert!(r.ignores_file(Path::new("x/y.tmp")));
        assert!(r.ignores_file(Path::new("build/a/b.o")));
        assert!(r.ignores_dir(Path::new("build/a")));
        assert!(r.ignores_dir(Path::new("x/logs")));
        assert!(r.ignores_file(Path::new("x/logs/today")));
        assert!(!r.ignores_file(Path::new("src/build.rs")));
    }
}
