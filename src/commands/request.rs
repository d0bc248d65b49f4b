//! `nats-lite req` (not built yet).

use std::process::ExitCode;

use super::connect::ConnectArgs;
use crate::error::Result;

super::stub_subcommand!(ReqArgs, "req");

/// Run `nats-lite req`.
pub fn run(_global: &ConnectArgs, _args: ReqArgs) -> Result<ExitCode> {
    Err(super::not_built_yet("req"))
}
