//! `nats-lite cat` (not built yet).

use std::process::ExitCode;

use super::connect::ConnectArgs;
use crate::error::Result;

super::stub_subcommand!(CatArgs, "cat");

/// Run `nats-lite cat`.
pub fn run(_global: &ConnectArgs, _args: CatArgs) -> Result<ExitCode> {
    Err(super::not_built_yet("cat"))
}
