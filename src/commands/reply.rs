//! `nats-lite reply` (not built yet).

use std::process::ExitCode;

use super::connect::ConnectArgs;
use crate::error::Result;

super::stub_subcommand!(ReplyArgs, "reply");

/// Run `nats-lite reply`.
pub fn run(_global: &ConnectArgs, _args: ReplyArgs) -> Result<ExitCode> {
    Err(super::not_built_yet("reply"))
}
