//! `nats-lite watch-http` (not built yet).

use std::process::ExitCode;

use super::connect::ConnectArgs;
use crate::error::Result;

super::stub_subcommand!(WatchHttpArgs, "watch-http");

/// Run `nats-lite watch-http`.
pub fn run(_global: &ConnectArgs, _args: WatchHttpArgs) -> Result<ExitCode> {
    Err(super::not_built_yet("watch-http"))
}
