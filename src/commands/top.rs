//! `nats-lite top` (not built yet).

use std::process::ExitCode;

use crate::error::Result;

super::stub_subcommand!(TopArgs, "top");

/// Run `nats-lite top`.
pub fn run(_args: TopArgs) -> Result<ExitCode> {
    Err(super::not_built_yet("top"))
}
