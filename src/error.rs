//! The CLI's error type and exit codes.
//!
//! Exit codes follow the convention documented in every subcommand's help:
//! 0 success, 1 a failure at run time (timeout, no responders, connection or
//! server error), 2 a usage error (bad flags, bad config).

use std::fmt;
use std::process::ExitCode;

/// Exit status for a successful run.
pub const EXIT_OK: u8 = 0;
/// Exit status for a run-time failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status for a usage or configuration error.
pub const EXIT_USAGE: u8 = 2;

/// What went wrong, and so which exit code it maps to.
#[derive(Debug)]
pub enum Error {
    /// Bad arguments or configuration: exit 2.
    Usage(String),
    /// Anything that failed while running: exit 1.
    Failure(String),
    /// An I/O error with what we were doing at the time: exit 1.
    Io(String, std::io::Error),
}

/// Result alias for the CLI layer.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A usage error with a message.
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    /// A run-time failure with a message.
    pub fn failure(msg: impl Into<String>) -> Self {
        Error::Failure(msg.into())
    }

    /// An I/O error while doing `what`.
    pub fn io(what: impl Into<String>, err: std::io::Error) -> Self {
        Error::Io(what.into(), err)
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::from(EXIT_USAGE),
            Error::Failure(_) | Error::Io(..) => ExitCode::from(EXIT_FAILURE),
        }
    }

    /// True when the error is a closed pipe on our output (`nats-lite sub x | head`),
    /// which by Unix convention is a normal end, not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io(_, e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Failure(m) => f.write_str(m),
            Error::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(_, e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_by_kind() {
        assert_eq!(Error::usage("x").exit_code(), ExitCode::from(2));
        assert_eq!(Error::failure("x").exit_code(), ExitCode::from(1));
        let pipe = Error::io(
            "writing",
            std::io::Error::from(std::io::ErrorKind::BrokenPipe),
        );
        assert!(pipe.is_broken_pipe());
        assert_eq!(pipe.exit_code(), ExitCode::from(1));
    }
}
