//! `nats-lite mkpasswd`: a bcrypt hash of a password, to put in a
//! configuration file instead of the password itself (as nats-server's old
//! `util/mkpasswd`, now `nats server passwd`).
//!
//! Without flags a strong random password is generated and printed with its
//! hash. With `-p` the password is asked twice on the terminal, or read from
//! the first line of stdin when stdin is not a terminal (or with `--stdin`),
//! so scripts can use it. Hashes are `$2a$` with the given cost, as Go's
//! bcrypt writes them.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use crate::error::{Error, Result};

/// bcrypt cost when `--cost` is not given (Go's `bcrypt.DefaultCost` + 1, as
/// the anchor tools use).
pub const DEFAULT_COST: u32 = 11;
/// Lowest bcrypt cost (`bcrypt.MinCost`).
pub const MIN_COST: u32 = 4;
/// Highest bcrypt cost (`bcrypt.MaxCost`).
pub const MAX_COST: u32 = 31;
/// Longest password bcrypt can use.
pub const MAX_PASSWORD_BYTES: usize = 72;
/// Length of a generated password.
pub const PASSWORD_LENGTH: usize = 22;
/// The characters a generated password is made of.
pub const PASSWORD_CHARSET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!@$#%^&*()";

const EXAMPLES: &str = "\
Without flags, prints a random 22-character password (`pass: ...`) and its
hash (`bcrypt hash: ...`). With -p, prints only the hash of your password.

Examples:
  # Generate a password and its hash
  nats-lite mkpasswd

  # Hash a password typed twice on the terminal
  nats-lite mkpasswd -p

  # Hash a password from a script (first line of stdin), cheaper to check
  printf '%s\\n' \"$SECRET\" | nats-lite mkpasswd -p --cost 10

Then, in the server's configuration file:
  authorization {
    user: derek
    password: $2a$11$...   # the bcrypt hash; no quotes needed
  }";

/// Generate a bcrypt hash of a password for a config file.
///
/// Without flags, generates a random 22-character password and prints it
/// (`pass: ...`) with its hash (`bcrypt hash: ...`). With `-p`, asks for the
/// password twice and prints only the hash.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct MkpasswdArgs {
    /// Hash a password you enter instead of generating one (asked twice on a
    /// terminal; read from stdin's first line when stdin is not a terminal).
    #[arg(short = 'p', long = "pass")]
    pub pass: bool,
    /// bcrypt cost, 4 to 31: each step doubles the time to hash and to check.
    #[arg(
        short = 'c',
        long = "cost",
        value_name = "COST",
        default_value_t = DEFAULT_COST as i64,
        allow_negative_numbers = true
    )]
    pub cost: i64,
    /// Read the password from stdin's first line even when stdin is a
    /// terminal (implies --pass).
    #[arg(long = "stdin")]
    pub stdin: bool,
}

/// Run `nats-lite mkpasswd`.
pub fn run(args: MkpasswdArgs) -> Result<ExitCode> {
    let cost = check_cost(args.cost)?;
    let stdin = std::io::stdin();
    let from_stdin = args.stdin || (args.pass && !stdin.is_terminal());
    let (password, generated) = if from_stdin {
        (read_first_line(&mut stdin.lock())?, false)
    } else if args.pass {
        (prompt_twice()?, false)
    } else {
        (generate_password()?, true)
    };
    if password.is_empty() {
        return Err(Error::failure("the password is empty"));
    }
    let hash = hash_password(&password, cost)?;
    let mut out = std::io::stdout().lock();
    let written = if generated {
        writeln!(out, "pass: {password}").and_then(|_| writeln!(out, "bcrypt hash: {hash}"))
    } else {
        writeln!(out, "bcrypt hash: {hash}")
    };
    written
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("writing the hash", e))?;
    Ok(ExitCode::SUCCESS)
}

/// The cost as bcrypt takes it, or the usage error nats' tools give.
pub fn check_cost(cost: i64) -> Result<u32> {
    u32::try_from(cost)
        .ok()
        .filter(|c| (MIN_COST..=MAX_COST).contains(c))
        .ok_or_else(|| {
            Error::usage(format!(
                "bcrypt cost should be between {MIN_COST} and {MAX_COST}"
            ))
        })
}

/// Hash `password` with bcrypt at `cost`, formatted `$2a$NN$...` as Go does.
///
/// # Errors
///
/// A password longer than 72 bytes (bcrypt would silently use only the
/// first 72; Go's bcrypt refuses them too), or no system randomness.
pub fn hash_password(password: &str, cost: u32) -> Result<String> {
    // As Go's bcrypt: up to 72 bytes is fine (the 72nd byte pushes out the
    // terminating zero, as there), more is an error.
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::failure(format!(
            "the password is {} bytes long; bcrypt uses at most {MAX_PASSWORD_BYTES}",
            password.len()
        )));
    }
    bcrypt::hash_with_result(password, cost)
        .map(|parts| parts.format_for_version(bcrypt::Version::TwoA))
        .map_err(|e| Error::failure(format!("bcrypt: {e}")))
}

/// A random password of [`PASSWORD_LENGTH`] characters from
/// [`PASSWORD_CHARSET`], each drawn uniformly from the system's crypto RNG.
pub fn generate_password() -> Result<String> {
    // Bytes at or above the largest multiple of the charset size are
    // dropped, so every character is equally likely.
    let n = PASSWORD_CHARSET.len();
    let limit = 256 - 256 % n;
    let mut password = String::with_capacity(PASSWORD_LENGTH);
    let mut buf = [0u8; 64];
    while password.len() < PASSWORD_LENGTH {
        getrandom::fill(&mut buf)
            .map_err(|e| Error::failure(format!("no system randomness: {e}")))?;
        for &b in buf.iter().filter(|&&b| usize::from(b) < limit) {
            if password.len() == PASSWORD_LENGTH {
                break;
            }
            password.push(char::from(PASSWORD_CHARSET[usize::from(b) % n]));
        }
    }
    Ok(password)
}

/// The first line of `reader`, without its line end.
///
/// # Errors
///
/// Nothing to read, or a read error.
pub fn read_first_line(reader: &mut impl BufRead) -> Result<String> {
    let mut line = String::new();
    let n = reader
        .read_line(&mut line)
        .map_err(|e| Error::io("reading the password from stdin", e))?;
    if n == 0 {
        return Err(Error::failure("no password on stdin"));
    }
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(trimmed.to_string())
}

/// Ask for the password twice on the terminal, without echo.
fn prompt_twice() -> Result<String> {
    let first = rpassword::prompt_password("Enter Password: ")
        .map_err(|e| Error::io("reading the password", e))?;
    let second = rpassword::prompt_password("Reenter Password: ")
        .map_err(|e| Error::io("reading the password", e))?;
    if first != second {
        return Err(Error::failure("passwords do not match"));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn hash_verifies_and_looks_like_go() {
        let hash = hash_password("T0pS3cr3t", MIN_COST).unwrap();
        assert_eq!(hash.len(), 60);
        assert!(hash.starts_with("$2a$04$"), "{hash}");
        assert!(bcrypt::verify("T0pS3cr3t", &hash).unwrap());
        assert!(!bcrypt::verify("T0pS3cr3u", &hash).unwrap());
        // The config parser takes it as a bcrypt hash, unquoted.
        assert!(crate::conf::is_bcrypt(&hash));
        let map = crate::conf::parse_str(
            &format!("authorization {{ user: a, password: {hash} }}"),
            std::path::Path::new("m.conf"),
        )
        .unwrap();
        let (config, _) = crate::conf::ServerConfig::from_value(&map).unwrap();
        assert_eq!(
            config.authorization.unwrap().password.as_deref(),
            Some(hash.as_str())
        );
    }

    #[test]
    fn salts_differ() {
        assert_ne!(
            hash_password("x", MIN_COST).unwrap(),
            hash_password("x", MIN_COST).unwrap()
        );
    }

    #[test]
    fn long_passwords_are_refused() {
        assert!(hash_password(&"a".repeat(72), MIN_COST).is_ok());
        let e = hash_password(&"a".repeat(73), MIN_COST).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the password is 73 bytes long; bcrypt uses at most 72"
        );
    }

    #[test]
    fn generated_passwords() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.len(), PASSWORD_LENGTH);
        assert!(a.bytes().all(|c| PASSWORD_CHARSET.contains(&c)), "{a}");
        assert_ne!(a, b);
        assert_eq!(PASSWORD_CHARSET.len(), 72);
        // Over many passwords every character shows up.
        let mut seen = [false; 256];
        for _ in 0..200 {
            for c in generate_password().unwrap().bytes() {
                seen[usize::from(c)] = true;
            }
        }
        assert!(PASSWORD_CHARSET.iter().all(|&c| seen[usize::from(c)]));
    }

    #[test]
    fn cost_range() {
        assert_eq!(check_cost(4).unwrap(), 4);
        assert_eq!(check_cost(31).unwrap(), 31);
        for bad in [3, 32, -1, 0, i64::MAX] {
            let e = check_cost(bad).unwrap_err();
            assert_eq!(e.to_string(), "bcrypt cost should be between 4 and 31");
            assert_eq!(e.exit_code(), ExitCode::from(crate::error::EXIT_USAGE));
        }
    }

    #[test]
    fn first_line_of_stdin() {
        let line = |s: &str| read_first_line(&mut Cursor::new(s.as_bytes().to_vec()));
        assert_eq!(line("secret\nignored\n").unwrap(), "secret");
        assert_eq!(line("secret\r\n").unwrap(), "secret");
        assert_eq!(line("no newline").unwrap(), "no newline");
        assert_eq!(line(" spaces kept \n").unwrap(), " spaces kept ");
        assert_eq!(line("\n").unwrap(), "");
        assert!(line("").is_err());
    }

    #[test]
    fn args() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: MkpasswdArgs,
        }
        let a = Cli::try_parse_from(["mkpasswd"]).unwrap().args;
        assert_eq!((a.pass, a.cost, a.stdin), (false, 11, false));
        let a = Cli::try_parse_from(["mkpasswd", "-p", "-c", "4", "--stdin"])
            .unwrap()
            .args;
        assert_eq!((a.pass, a.cost, a.stdin), (true, 4, true));
        let a = Cli::try_parse_from(["mkpasswd", "--pass", "--cost=-3"])
            .unwrap()
            .args;
        assert_eq!((a.pass, a.cost), (true, -3));
    }
}
