//! The broker (being built).

mod options;
pub use options::*;

/// nats-lite's version with build information, for `--version`.
pub const VERSION_LONG: &str = env!("CARGO_PKG_VERSION");

/// Run the broker until a signal stops it.
pub fn run(_opts: Options, _warnings: &[String]) -> std::io::Result<()> {
    Err(std::io::Error::other("not built yet"))
}
