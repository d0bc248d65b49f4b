//! One module per subcommand: its clap `Args` and a `run` function that
//! returns the exit code. Only this layer prints to the terminal.

pub mod bench;
pub mod cat;
pub mod connect;
pub mod mkpasswd;
pub mod ping;
pub mod publish;
pub mod reply;
pub mod request;
pub mod server;
pub mod signal;
pub mod subscribe;
pub mod top;
pub mod watch_http;

use crate::error::Error;

/// The error of a subcommand that is declared but not built yet (exit 2).
pub(crate) fn not_built_yet(name: &str) -> Error {
    Error::usage(format!(
        "'{name}' is not built yet in this version of nats-lite"
    ))
}

/// Declare the args and `run` of a subcommand that is not built yet: it
/// accepts any arguments and exits 2 with a clear message.
macro_rules! stub_subcommand {
    ($args:ident, $name:literal) => {
        /// Arguments (this subcommand is not built yet).
        #[derive(Debug, clap::Args)]
        pub struct $args {
            /// Not built yet: every argument is accepted and ignored.
            #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
            pub rest: Vec<String>,
        }
    };
}
pub(crate) use stub_subcommand;
