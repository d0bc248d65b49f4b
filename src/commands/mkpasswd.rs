//! `nats-lite mkpasswd` (not built yet).

use std::process::ExitCode;

use crate::error::Result;

super::stub_subcommand!(MkpasswdArgs, "mkpasswd");

/// Run `nats-lite mkpasswd`.
pub fn run(_args: MkpasswdArgs) -> Result<ExitCode> {
    Err(super::not_built_yet("mkpasswd"))
}
