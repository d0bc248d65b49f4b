//! The `nats-lite` binary: parse the command line, run one subcommand, turn
//! its result into an exit code. Everything else lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    nats_lite::cli::main_with_args(std::env::args_os().collect())
}
