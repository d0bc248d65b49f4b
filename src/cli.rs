//! The command line: the clap definition of every subcommand and the one
//! `match` that dispatches to [`crate::commands`].
//!
//! nats-server's flags come from Go's `flag` package, which accepts `-name` and
//! `--name` alike and multi-letter single-dash flags such as `-ms` or `-sd`.
//! clap cannot express those, so [`normalize_server_args`] rewrites them to
//! their long forms before parsing.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::commands;
use crate::error::{Error, EXIT_OK};

/// A NATS broker and client multitool in one binary.
///
/// Exit codes: 0 success; 1 failure at run time (timeout, no responders,
/// connection or server error); 2 usage or configuration error.
#[derive(Debug, Parser)]
#[command(
    name = "nats-lite",
    version = crate::server::VERSION_LONG,
    disable_version_flag = true,
    after_help = EXAMPLES
)]
pub struct Cli {
    /// Show the version and exit (`-v` as nats-server; `-V` is its trace flag).
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    pub version: Option<bool>,

    /// Connection options for the client subcommands; they may also be given
    /// after the subcommand name.
    #[command(flatten)]
    pub connect: commands::connect::ConnectArgs,

    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  nats-lite server -a 127.0.0.1 -p 4222 &      # a broker on loopback
  nats-lite sub 'greet.*' &                    # print what arrives on greet.*
  nats-lite pub greet.joe hello                # publish one message
  nats-lite reply svc.echo & nats-lite req svc.echo hi
  nats-lite SUBCOMMAND --help                  # each subcommand's flags and examples

Man pages: nats-lite(1), nats-lite-SUBCOMMAND(1). Shell completions: nats-lite completions --help.";

/// Every subcommand of nats-lite.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a NATS-protocol broker (flags as nats-server's).
    Server(Box<commands::server::ServerArgs>),
    /// Publish a message.
    #[command(name = "pub", alias = "publish")]
    Pub(commands::publish::PubArgs),
    /// Subscribe to subjects and print what arrives.
    #[command(name = "sub", alias = "subscribe")]
    Sub(commands::subscribe::SubArgs),
    /// Send a request and wait for the reply.
    #[command(name = "req", alias = "request")]
    Req(commands::request::ReqArgs),
    /// Answer requests on a subject.
    Reply(commands::reply::ReplyArgs),
    /// Measure a server: publishers, subscribers, request/reply latency (like `nats bench`).
    Bench(Box<commands::bench::BenchArgs>),
    /// Check a server: connect, show its INFO, time PING/PONG round trips.
    Ping(commands::ping::PingArgs),
    /// Pipe stdin to a server as raw protocol and its output to stdout (like catnats).
    #[command(alias = "raw")]
    Cat(commands::cat::CatArgs),
    /// A live view of a server's statistics (like nats-top).
    Top(commands::top::TopArgs),
    /// Generate a bcrypt hash of a password for a config file.
    Mkpasswd(commands::mkpasswd::MkpasswdArgs),
    /// Generate NKeys (seed and public key) and print the public key of a seed.
    Nkey(commands::nkey::NkeyArgs),
    /// Watch HTTP endpoints and alert when their health changes.
    #[command(name = "watch-http")]
    WatchHttp(Box<commands::watch_http::WatchHttpArgs>),
    /// Report load, memory, disk usage and file changes to stdout, NATS, Prometheus, CloudWatch.
    #[command(name = "watch-host")]
    WatchHost(Box<commands::watch_host::WatchHostArgs>),
    /// Print shell completions (bash, zsh, fish, powershell, elvish) or write man pages.
    Completions(commands::completions::CompletionsArgs),
}

/// Parse `args` (the program name first), run the subcommand, and map the
/// result to an exit code. A closed stdout pipe ends quietly with 0.
pub fn main_with_args(args: Vec<OsString>) -> ExitCode {
    let args = normalize_server_args(multi_call(args));
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => {
            // clap names a subcommand's version `nats-lite-server`; benchmarks
            // and scripts read the first word of `nats-lite server --version`
            // as nats-server's, so every `--version` starts with `nats-lite`.
            println!("nats-lite {}", crate::server::VERSION_LONG);
            return ExitCode::from(EXIT_OK);
        }
        Err(e) => {
            // clap prints help to stdout with exit 0, errors with exit 2.
            let _ = e.print();
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("nats-lite: {}", crate::printable::printable(&e.to_string()));
            e.exit_code()
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    let global = cli.connect;
    match cli.command {
        Command::Server(args) => commands::server::run(*args),
        Command::Pub(args) => commands::publish::run(&global, args),
        Command::Sub(args) => commands::subscribe::run(&global, args),
        Command::Req(args) => commands::request::run(&global, args),
        Command::Reply(args) => commands::reply::run(&global, args),
        Command::Bench(args) => commands::bench::run(&global, *args),
        Command::Ping(args) => commands::ping::run(&global, args),
        Command::Cat(args) => commands::cat::run(&global, args),
        Command::Top(args) => commands::top::run(&global, args),
        Command::Mkpasswd(args) => commands::mkpasswd::run(args),
        Command::Nkey(args) => commands::nkey::run(args),
        Command::WatchHttp(args) => commands::watch_http::run(&global, *args),
        Command::WatchHost(args) => commands::watch_host::run(&global, *args),
        Command::Completions(args) => commands::completions::run(args, Cli::command()),
    }
}

/// Every long flag name (and alias) of a subcommand's args, for Go-style
/// `-name` rewriting.
fn long_flag_names<A: clap::Args>() -> Vec<String> {
    let cmd = A::augment_args(clap::Command::new("x"));
    let mut names = Vec::new();
    for arg in cmd.get_arguments() {
        names.extend(arg.get_long().map(str::to_string));
        names.extend(
            arg.get_all_aliases()
                .unwrap_or_default()
                .into_iter()
                .map(str::to_string),
        );
    }
    names
}

/// nats-server flags that Go's `flag` package accepts with a single dash and
/// that are longer than one letter. `-DV`, `-VV` and `-DVV` are left alone:
/// clap reads them as combined short flags.
const GO_STYLE_LONG_FLAGS: &[(&str, &str)] = &[
    ("ms", "https_port"),
    ("sl", "signal"),
    ("js", "jetstream"),
    ("sd", "store_dir"),
];

/// The name under which the binary is `nats-lite server` (a multi-call
/// binary): anything that launches `nats-server ARGS` (client test suites,
/// scripts, CI) can run nats-lite through a symlink or `exec -a`.
pub const SERVER_ALIAS: &str = "nats-server";

/// Called as [`SERVER_ALIAS`] (the base name of `argv[0]`, `.exe` aside),
/// the arguments become `nats-lite server ARGS`; otherwise unchanged.
pub fn multi_call(mut args: Vec<OsString>) -> Vec<OsString> {
    let name = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.strip_suffix(".exe").unwrap_or(&name) == SERVER_ALIAS {
        args[0] = OsString::from("nats-lite");
        args.insert(1, OsString::from("server"));
    }
    args
}

/// Rewrite Go-style single-dash long flags of `nats-lite server` (`-ms 8443`,
/// `-port 4222`, `-routes=...`) and of `nats-lite top` (nats-top's `-ms`,
/// `-sort`, `-lookup`) to clap's `--long` form. Only arguments after the
/// first `server` or `top` are touched, and only names that are flags of
/// that subcommand, so values such as `-1` pass through.
pub fn normalize_server_args(args: Vec<OsString>) -> Vec<OsString> {
    let Some(pos) = args.iter().position(|a| a == "server" || a == "top") else {
        return args;
    };
    if args[pos] == "top" {
        let longs = long_flag_names::<commands::top::TopArgs>();
        return rewrite_go_flags(args, pos, commands::top::GO_STYLE_LONG_FLAGS, &longs);
    }
    let longs = long_flag_names::<commands::server::ServerArgs>();
    rewrite_go_flags(args, pos, GO_STYLE_LONG_FLAGS, &longs)
}

fn rewrite_go_flags(
    args: Vec<OsString>,
    pos: usize,
    go_flags: &[(&str, &str)],
    longs: &[String],
) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    out.extend_from_slice(&args[..=pos]);
    let mut only_values = false;
    for arg in &args[pos + 1..] {
        let Some(s) = arg.to_str() else {
            out.push(arg.clone());
            continue;
        };
        if only_values || s == "--" {
            only_values = true;
            out.push(arg.clone());
            continue;
        }
        let rewritten = s
            .strip_prefix('-')
            .filter(|rest| !rest.starts_with('-') && rest.len() > 1)
            .and_then(|rest| {
                let (name, value) = match rest.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (rest, None),
                };
                let long = go_flags
                    .iter()
                    .find(|(short, _)| *short == name)
                    .map(|(_, long)| (*long).to_string())
                    .or_else(|| longs.iter().find(|l| l.as_str() == name).cloned())?;
                Some(match value {
                    Some(v) => format!("--{long}={v}"),
                    None => format!("--{long}"),
                })
            });
        out.push(rewritten.map(OsString::from).unwrap_or_else(|| arg.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn called_as_nats_server_is_the_server_subcommand() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        for argv0 in [
            "nats-server",
            "/usr/local/bin/nats-server",
            "nats-server.exe",
        ] {
            assert_eq!(
                multi_call(os(&[argv0, "-p", "-1"])),
                os(&["nats-lite", "server", "-p", "-1"]),
                "{argv0}"
            );
        }
        for argv0 in ["nats-lite", "/bin/nats-server-wrapper", "nats"] {
            let args = os(&[argv0, "pub", "x"]);
            assert_eq!(multi_call(args.clone()), args, "{argv0}");
        }
    }

    /// `nats-lite --help` and every subcommand's `--help` end with
    /// examples: an `Examples:` line followed by an indented `nats-lite`
    /// command.
    #[test]
    fn every_help_has_examples() {
        let root = Cli::command();
        let subs: Vec<&clap::Command> = root.get_subcommands().collect();
        assert!(subs.len() >= 10, "{} subcommands", subs.len());
        for cmd in std::iter::once(&root).chain(subs) {
            let name = cmd.get_name();
            let text = cmd
                .get_after_long_help()
                .or_else(|| cmd.get_after_help())
                .map(|t| t.to_string())
                .unwrap_or_default();
            let examples = text.split_once("Examples:\n").map(|(_, rest)| rest);
            let has_example = examples.is_some_and(|rest| {
                rest.lines()
                    .any(|l| l.starts_with("  ") && l.contains("nats-lite"))
            });
            assert!(
                has_example,
                "`nats-lite {name} --help` has no `Examples:` with a command after it:\n{text}"
            );
        }
    }

    #[test]
    fn version_names_the_build() {
        let v = crate::server::VERSION_LONG;
        assert!(v.starts_with(crate::server::VERSION_PROTOCOL), "{v}");
        assert!(v.contains(" git "), "{v}");
        assert!(v.contains(env!("NATS_LITE_TARGET")), "{v}");
        assert!(v.contains(", rustc "), "{v}");
    }

    fn norm(args: &[&str]) -> Vec<String> {
        normalize_server_args(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn go_style_flags_become_long_flags() {
        assert_eq!(
            norm(&["nl", "server", "-ms", "8443", "-port=4", "-p", "-1", "-DV", "-js"]),
            [
                "nl",
                "server",
                "--https_port",
                "8443",
                "--port=4",
                "-p",
                "-1",
                "-DV",
                "--jetstream"
            ]
        );
        assert_eq!(norm(&["nl", "pub", "-ms"]), ["nl", "pub", "-ms"]);
        assert_eq!(
            norm(&["nl", "top", "-ms", "8443", "-sort", "subs", "-s", "h", "-lookup", "-n", "5"]),
            [
                "nl",
                "top",
                "--https-port",
                "8443",
                "--sort",
                "subs",
                "-s",
                "h",
                "--lookup",
                "-n",
                "5"
            ]
        );
        assert_eq!(
            norm(&["nl", "server", "--", "-port"]),
            ["nl", "server", "--", "-port"]
        );
    }

    #[test]
    fn server_flags_parse_like_nats_server() {
        let cli = Cli::try_parse_from(norm(&[
            "nl",
            "server",
            "-a",
            "127.0.0.1",
            "-p",
            "-1",
            "-DV",
            "-T=false",
            "--user",
            "u",
        ]))
        .unwrap();
        let Command::Server(args) = cli.command else {
            panic!("not server")
        };
        assert_eq!(args.port, Some(-1));
        assert!(args.debug && args.trace > 0);
        assert_eq!(args.logtime, Some(false));
    }
}
