//! Positions, errors and warnings of the configuration parser.
//!
//! Every message names the file, line and column it is about, in the form
//! `file.conf:3:7: message`, as nats-server's pedantic config errors do
//! (`configErr.Source` in `server/errors.go`).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Where something is in a configuration file: 1-based line and column
/// (columns count characters, a tab is one).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pos {
    /// The file, as it was named to the parser (or to `include`).
    pub file: Arc<Path>,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

impl Pos {
    /// A position in `file`.
    pub fn new(file: Arc<Path>, line: u32, col: u32) -> Self {
        Pos { file, line, col }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// A configuration error: bad syntax, an undefined variable, an unknown or
/// unsupported option, a value of the wrong type or an invalid combination.
///
/// `Display` gives `file:line:col: message` (or just the message when the
/// error is not about a place in a file, e.g. a file that cannot be read).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfError {
    /// Where the problem is, when it is about a place in a file.
    pub pos: Option<Pos>,
    /// What is wrong, without the position.
    pub message: String,
}

impl ConfError {
    /// An error at `pos`.
    pub fn at(pos: &Pos, message: impl Into<String>) -> Self {
        ConfError {
            pos: Some(pos.clone()),
            message: message.into(),
        }
    }

    /// An error that is not about a place in a file.
    pub fn new(message: impl Into<String>) -> Self {
        ConfError {
            pos: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pos {
            Some(pos) => write!(f, "{pos}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfError {}

/// Something the configuration asks for that nats-lite accepts but ignores
/// or that is deprecated (e.g. a duration given as a plain number of
/// seconds). The server logs these at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where the option is.
    pub pos: Pos,
    /// What the warning is about, without the position.
    pub message: String,
}

impl Warning {
    /// A warning at `pos`.
    pub fn at(pos: &Pos, message: impl Into<String>) -> Self {
        Warning {
            pos: pos.clone(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}
