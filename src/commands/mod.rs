//! One module per subcommand: its clap `Args` and a `run` function that
//! returns the exit code. Only this layer prints to the terminal.

pub mod alerting;
pub mod bench;
pub mod cat;
pub mod completions;
pub mod connect;
pub mod delivery;
pub mod mkpasswd;
pub mod nkey;
pub mod ping;
pub mod publish;
pub mod reply;
pub mod request;
pub mod server;
pub mod signal;
pub mod subscribe;
pub mod top;
pub mod trace_view;
pub mod watch_host;
pub mod watch_http;
