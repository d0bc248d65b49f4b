//! `nats-lite completions`: shell completion scripts (clap_complete) and man
//! pages (clap_mangen), rendered from the clap definition of
//! [`crate::cli::Cli`], so they cannot drift from `--help`.
//!
//! The copies kept in git under `completions/` and `man/` are written by
//! `cargo run -- completions --write-all .`;
//! `tests/ship_completions.rs` fails when they differ from what the binary
//! renders. Nothing rendered here may depend on the build (git commit,
//! target, rustc): man pages carry [`VERSION_PROTOCOL`], not the `--version`
//! text.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Command;
use clap_complete::{Generator, Shell};
use clap_mangen::roff::{roman, Roff};
use clap_mangen::Man;

use crate::error::{Error, Result};
use crate::server::{VERSION, VERSION_PROTOCOL};

/// The name the scripts complete and the man pages document.
pub const BIN: &str = "nats-lite";

/// Every shell a script is generated for, in the order they are written.
pub const SHELLS: [Shell; 5] = [
    Shell::Bash,
    Shell::Zsh,
    Shell::Fish,
    Shell::PowerShell,
    Shell::Elvish,
];

const AFTER_HELP: &str = "\
Examples:
  nats-lite completions bash > ~/.local/share/bash-completion/completions/nats-lite
  nats-lite completions zsh > ~/.zfunc/_nats-lite      # with fpath+=(~/.zfunc) in .zshrc
  nats-lite completions fish > ~/.config/fish/completions/nats-lite.fish
  nats-lite completions powershell >> $PROFILE
  nats-lite completions --man /usr/local/share/man/man1
  nats-lite completions --write-all .   # in a checkout: regenerate completions/ and man/

Packages can install the files kept in the source tree instead: completions/nats-lite.bash,
completions/_nats-lite (zsh), completions/nats-lite.fish, completions/_nats-lite.ps1,
completions/nats-lite.elv, and man/*.1.";

/// `nats-lite completions` arguments: one shell, `--man DIR` or `--write-all DIR`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = AFTER_HELP,
    group(clap::ArgGroup::new("what").required(true).args(["shell", "man", "write_all"]))
)]
pub struct CompletionsArgs {
    /// Print the completion script for this shell to stdout.
    #[arg(value_enum)]
    pub shell: Option<Shell>,
    /// Write the man pages (nats-lite.1 and one nats-lite-SUBCOMMAND.1 per
    /// subcommand) into DIR.
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub man: Option<PathBuf>,
    /// Write every completion script into DIR/completions and every man page
    /// into DIR/man (`.` in a checkout regenerates the files kept in git).
    #[arg(long = "write-all", value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub write_all: Option<PathBuf>,
}

/// Run `nats-lite completions`; `cmd` is the whole CLI (`Cli::command()`).
pub fn run(args: CompletionsArgs, cmd: Command) -> Result<ExitCode> {
    if let Some(shell) = args.shell {
        let script = completion_script(cmd, shell);
        let mut out = std::io::stdout().lock();
        out.write_all(&script)
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("writing the completion script", e))?;
    } else if let Some(dir) = &args.man {
        write_man_pages(cmd, dir)?;
    } else if let Some(dir) = &args.write_all {
        write_all(cmd, dir)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Write `completions/` and `man/` under `dir`, as kept in git.
pub fn write_all(cmd: Command, dir: &Path) -> Result<()> {
    let comp_dir = dir.join("completions");
    create_dir(&comp_dir)?;
    for shell in SHELLS {
        let path = comp_dir.join(shell.file_name(BIN));
        write_file(&path, &completion_script(cmd.clone(), shell))?;
    }
    write_man_pages(cmd, &dir.join("man"))
}

/// Write every man page into `dir` (created when missing).
pub fn write_man_pages(cmd: Command, dir: &Path) -> Result<()> {
    create_dir(dir)?;
    for (name, page) in man_pages(cmd) {
        write_file(&dir.join(name), &page)?;
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// The completion script for `shell`.
pub fn completion_script(cmd: Command, shell: Shell) -> Vec<u8> {
    let mut cmd = for_docs(cmd);
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut buf);
    if shell == Shell::Bash {
        let script = String::from_utf8(buf).expect("clap_complete writes UTF-8");
        return fix_bash_hyphenated_bin(&script, BIN).into_bytes();
    }
    buf
}

/// Work around clap-rs/clap#6421 (open in clap_complete 4.6.11): with a
/// hyphen in the binary's name, bash completes subcommand names but nothing
/// after them (`nats-lite server --<TAB>` offers no flag).
///
/// The script walks the words typed so far and builds a state name: the
/// function name (`nats__lite`, the bin name with `-` as `__`) plus
/// `__subcmd__` and the subcommand (`nats__lite__subcmd__server`). The
/// `case` arms that list each subcommand's flags are labelled by replacing
/// every `-` in the path `nats-lite__subcmd__server` with `__subcmd__`,
/// which gives `nats__subcmd__lite__subcmd__server`: no arm ever matches.
/// Only the bin name's part of the label differs (a hyphen inside a
/// subcommand name, as in `watch-http`, is spelt the same way on both
/// sides), so the arm labels' prefix is rewritten to the state's.
///
/// The rewrite is a no-op once clap_complete is fixed (the wrong prefix no
/// longer appears), and the unit test `bash_arms_match_states` below fails
/// if a future clap_complete builds the two spellings differently again;
/// `tests/ship_completions.rs` checks real completions in bash.
fn fix_bash_hyphenated_bin(script: &str, bin: &str) -> String {
    const CMD_SEP: &str = "__subcmd__";
    let wrong = format!("{}{CMD_SEP}", bin.replace('-', CMD_SEP));
    let right = format!("{}{CMD_SEP}", bin.replace('-', "__"));
    script.replace(&wrong, &right)
}

/// The CLI as the generated files describe it: with the build-independent
/// version, so that the files do not change with each commit.
fn for_docs(cmd: Command) -> Command {
    let cmd = cmd.version(VERSION_PROTOCOL).long_version(None::<&str>);
    let versioned: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| s.get_version().is_some() || s.get_long_version().is_some())
        .map(|s| s.get_name().to_string())
        .collect();
    versioned.iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(name, |s| {
            s.version(VERSION_PROTOCOL).long_version(None::<&str>)
        })
    })
}

/// Every man page as (file name, roff source): `nats-lite.1` and
/// `nats-lite-SUBCOMMAND.1` for every visible subcommand.
pub fn man_pages(cmd: Command) -> Vec<(String, Vec<u8>)> {
    let mut cmd = for_docs(cmd).disable_help_subcommand(true);
    cmd.build();
    let mut pages = vec![(format!("{BIN}.1"), man_page(&cmd, None))];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages.push((
            format!("{BIN}-{}.1", sub.get_name()),
            man_page(sub, Some(BIN)),
        ));
    }
    pages
}

/// One page: clap_mangen's sections, but the `after_help` text (examples,
/// exit status, notes) under its own headings and with its layout kept,
/// where clap_mangen would fill it into one paragraph under "EXTRA".
fn man_page(cmd: &Command, parent: Option<&str>) -> Vec<u8> {
    let name = cmd
        .get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string();
    let man = Man::new(cmd.clone())
        .title(name.to_uppercase())
        .source(format!("{BIN} {VERSION}"))
        .manual(format!("{BIN} manual"));
    // Each section renderer writes the roff crate's apostrophe preamble
    // (what an empty document renders as); the page keeps the first one.
    let preamble = Roff::new().render();
    let mut page = preamble.clone();
    let mut section = |render: &dyn Fn(&mut dyn Write) -> std::io::Result<()>| {
        let mut buf = Vec::new();
        render(&mut buf).expect("rendering into a Vec cannot fail");
        let text = String::from_utf8(buf).expect("roff output is UTF-8");
        page.push_str(text.strip_prefix(&preamble).unwrap_or(&text));
    };
    section(&|w| man.render_title(w));
    section(&|w| man.render_name_section(w));
    section(&|w| man.render_synopsis_section(w));
    section(&|w| man.render_description_section(w));
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        section(&|w| man.render_options_section(w));
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        section(&|w| man.render_subcommands_section(w));
    }
    if let Some(text) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) {
        section(&|w| after_help_sections(&text.to_string()).to_writer(w));
    }
    if cmd.get_version().is_some() {
        section(&|w| man.render_version_section(w));
    }
    if let Some(parent) = parent {
        section(&|w| {
            let mut roff = Roff::new();
            roff.control("SH", ["SEE ALSO"]);
            roff.text([roman(format!("{parent}(1)"))]);
            roff.to_writer(w)
        });
    }
    page.into_bytes()
}

/// The `after_help` text as roff. A line such as `Examples:` or `Exit
/// status:` (unindented, a few words and a colon) starts a section of that
/// name; text before the first one goes under NOTES. Indented lines
/// (commands, tables) keep their layout; unindented lines are filled.
fn after_help_sections(text: &str) -> Roff {
    let mut roff = Roff::new();
    let mut in_section = false;
    let mut no_fill = false;
    // A blank line becomes a paragraph break before the next text in the
    // same section (not before a heading, which breaks anyway).
    let mut paragraph = false;
    for line in text.lines() {
        let indented = line.starts_with(' ');
        let heading = section_heading(line);
        if no_fill && (!indented || heading.is_some() || line.trim().is_empty()) {
            roff.control("fi", []);
            no_fill = false;
        }
        if let Some(heading) = heading {
            roff.control("SH", [heading.to_uppercase().as_str()]);
            (in_section, paragraph) = (true, false);
            continue;
        }
        if line.trim().is_empty() {
            paragraph = in_section;
            continue;
        }
        if !in_section {
            roff.control("SH", ["NOTES"]);
            in_section = true;
        }
        if std::mem::take(&mut paragraph) {
            roff.control("PP", []);
        }
        if indented && !no_fill {
            roff.control("nf", []);
            no_fill = true;
        }
        roff.text([roman(line)]);
    }
    if no_fill {
        roff.control("fi", []);
    }
    roff
}

/// `Examples:` -> `Examples`: an unindented line of at most three words,
/// letters and spaces only, ending with a colon.
fn section_heading(line: &str) -> Option<&str> {
    let head = line.strip_suffix(':')?;
    let ok = !head.is_empty()
        && head.starts_with(|c: char| c.is_ascii_uppercase())
        && head.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
        && head.split(' ').count() <= 3;
    ok.then_some(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn cli() -> Command {
        crate::cli::Cli::command()
    }

    fn bash_script() -> String {
        String::from_utf8(completion_script(cli(), Shell::Bash)).unwrap()
    }

    /// Every state the bash script's word loop can reach (`cmd="..."`) has
    /// a `case` arm listing its flags (clap-rs/clap#6421).
    #[test]
    fn bash_arms_match_states() {
        let script = bash_script();
        let states: Vec<&str> = script
            .lines()
            .filter_map(|l| l.trim().strip_prefix("cmd=\""))
            .filter_map(|l| l.strip_suffix('"'))
            .filter(|s| !s.is_empty())
            .collect();
        assert!(states.contains(&"nats__lite__subcmd__server"), "{states:?}");
        for state in states {
            assert!(
                script.contains(&format!("\n        {state})\n")),
                "bash completion state {state} has no case arm"
            );
        }
    }

    #[test]
    fn bash_fix_is_a_no_op_without_hyphen() {
        let s = "cmd=\"natslite__subcmd__server\"\n        natslite__subcmd__server)\n";
        assert_eq!(fix_bash_hyphenated_bin(s, "natslite"), s);
        assert_eq!(
            fix_bash_hyphenated_bin("        nats__subcmd__lite__subcmd__pub)", "nats-lite"),
            "        nats__lite__subcmd__pub)"
        );
    }

    #[test]
    fn docs_do_not_depend_on_the_build() {
        for (name, page) in man_pages(cli()) {
            let page = String::from_utf8(page).unwrap();
            assert!(!page.contains(env!("NATS_LITE_TARGET")), "{name}");
            assert!(!page.contains(env!("NATS_LITE_RUSTC")), "{name}");
        }
        let root = String::from_utf8(man_pages(cli()).remove(0).1).unwrap();
        assert!(root.contains(".SH VERSION"), "{root}");
    }

    #[test]
    fn headings() {
        assert_eq!(section_heading("Examples:"), Some("Examples"));
        assert_eq!(section_heading("Exit status:"), Some("Exit status"));
        assert_eq!(
            section_heading("Then, in the server's configuration file:"),
            None
        );
        assert_eq!(section_heading("  nats-lite pub x:"), None);
        assert_eq!(section_heading("Keys: o sort"), None);
    }

    #[test]
    fn examples_keep_their_layout() {
        let text = "Intro text.\n\nExamples:\n  a\n  b\n\nExit status:\n  0  ok\n";
        let roff = after_help_sections(text).to_roff();
        assert_eq!(
            roff,
            ".SH NOTES\nIntro text.\n.SH EXAMPLES\n.nf\n  a\n  b\n.fi\n\
             .SH \"EXIT STATUS\"\n.nf\n  0  ok\n.fi\n"
        );
    }
}
