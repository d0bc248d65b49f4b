//! `nats-lite ping` (not built yet).

use std::process::ExitCode;

use super::connect::ConnectArgs;
use crate::error::Result;

super::stub_subcommand!(PingArgs, "ping");

/// Run `nats-lite ping`.
pub fn run(_global: &ConnectArgs, _args: PingArgs) -> Result<ExitCode> {
    Err(super::not_built_yet("ping"))
}
