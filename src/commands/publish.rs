//! `nats-lite pub` (not built yet).

use std::process::ExitCode;

use super::connect::ConnectArgs;
use crate::error::Result;

super::stub_subcommand!(PubArgs, "pub");

/// Run `nats-lite pub`.
pub fn run(_global: &ConnectArgs, _args: PubArgs) -> Result<ExitCode> {
    Err(super::not_built_yet("pub"))
}
