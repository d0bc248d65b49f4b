//! `nats-lite sub` (not built yet).

use std::process::ExitCode;

use super::connect::ConnectArgs;
use crate::error::Result;

super::stub_subcommand!(SubArgs, "sub");

/// Run `nats-lite sub`.
pub fn run(_global: &ConnectArgs, _args: SubArgs) -> Result<ExitCode> {
    Err(super::not_built_yet("sub"))
}
