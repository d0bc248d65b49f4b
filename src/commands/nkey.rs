//! `nats-lite nkey`: make NKeys and read their public keys, as the `nk`
//! tool does (`nk -gen user -pubout`, `nk -inkey FILE -pubout`).
//!
//! `gen` prints a new seed (the secret: keep it in a file only its owner
//! can read) and its public key (what a server's config names in
//! `nkey: U...`). `pub` prints the public key of a seed file, a `.creds`
//! file, or stdin.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::{Error, Result};
use crate::nkey::{self, Kind};

const EXAMPLES: &str = "\
Examples:
  # A user key pair: line 1 is the seed (secret), line 2 the public key
  nats-lite nkey gen user

  # Keep the seed in a file only you can read; print its public key
  (umask 077; nats-lite nkey gen user | head -1 > user.nk)
  nats-lite nkey pub user.nk

Then, in the server's configuration file:
  authorization {
    users: [ { nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4 } ]
  }
and connect with: nats-lite --nkey user.nk pub greet hello";

/// Make NKeys (Ed25519 identities) and print public keys.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct NkeyArgs {
    #[command(subcommand)]
    pub action: NkeyAction,
}

/// What `nkey` does.
#[derive(Debug, clap::Subcommand)]
pub enum NkeyAction {
    /// Generate a key pair: prints the seed, then the public key.
    Gen {
        /// The kind of key.
        #[arg(value_enum)]
        kind: KindArg,
    },
    /// Print the public key of a seed (a seed file, a .creds file, or stdin).
    Pub {
        /// The file holding the seed; stdin when absent or `-`.
        file: Option<PathBuf>,
    },
}

/// The kinds of key `nkey gen` makes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    /// A user (public key `U...`).
    User,
    /// An account (public key `A...`).
    Account,
    /// An operator (public key `O...`).
    Operator,
}

impl From<KindArg> for Kind {
    fn from(k: KindArg) -> Kind {
        match k {
            KindArg::User => Kind::User,
            KindArg::Account => Kind::Account,
            KindArg::Operator => Kind::Operator,
        }
    }
}

/// Run `nats-lite nkey`.
pub fn run(args: NkeyArgs) -> Result<ExitCode> {
    let text = match args.action {
        NkeyAction::Gen { kind } => {
            let (seed, public) = nkey::generate(kind.into());
            format!("{seed}\n{public}\n")
        }
        NkeyAction::Pub { file } => {
            let input = match file.filter(|f| f.as_os_str() != "-") {
                Some(path) => std::fs::read_to_string(&path)
                    .map_err(|e| Error::io(format!("reading {}", path.display()), e))?,
                None => {
                    let mut s = String::new();
                    std::io::stdin()
                        .read_to_string(&mut s)
                        .map_err(|e| Error::io("reading stdin", e))?;
                    s
                }
            };
            let creds = nkey::parse_creds(&input).map_err(Error::failure)?;
            format!(
                "{}\n",
                nkey::public_of_seed(&creds.seed).map_err(Error::failure)?
            )
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("writing the key", e))?;
    Ok(ExitCode::SUCCESS)
}
