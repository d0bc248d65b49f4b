//! Shipping: the completion scripts and man pages kept in git match what the
//! binary renders, they work in the shells and `man` that are installed, and
//! `--version` names the build.
//!
//! When the CLI changes, regenerate the files with
//! `cargo run -- completions --write-all .`, or run
//! this test with `NATS_LITE_BLESS=1`.
//!
//! The shell tests source the checked-in scripts, which the first test
//! proves equal to the generated ones. A shell or `man` that is not
//! installed is skipped with a message on stderr (a failure under `CI`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{nats_lite_bin, TempDir};

const REGENERATE: &str = "cargo run -- completions --write-all .";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run `cmd` with a deadline; stdout and stderr are captured. They are read
/// by threads while the command runs: a completion script is larger than a
/// pipe's buffer, and a child blocked on a full pipe never exits.
fn run_with_deadline(mut cmd: Command, deadline: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish in {deadline:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&stdout.join().unwrap()),
                String::from_utf8_lossy(&stderr.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn nats_lite(args: &[&str]) -> Output {
    let mut cmd = Command::new(nats_lite_bin());
    cmd.args(args);
    run_with_deadline(cmd, Duration::from_secs(20))
}

/// The path of `program` on PATH, if any.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn skip(what: &str) {
    crate::util::skip_missing_peer(what);
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The first line where `a` and `b` differ, for the failure message.
fn first_difference(a: &str, b: &str) -> String {
    let (mut la, mut lb) = (a.lines(), b.lines());
    for n in 1.. {
        match (la.next(), lb.next()) {
            (None, None) => return "(only line endings differ)".to_string(),
            (x, y) if x == y => continue,
            (x, y) => {
                return format!(
                    "line {n}:\n  kept in git: {}\n  generated:   {}",
                    x.unwrap_or("<end of file>"),
                    y.unwrap_or("<end of file>")
                )
            }
        }
    }
    unreachable!()
}

/// `completions/` and `man/` hold exactly what `completions --write-all`
/// renders from the current CLI.
#[test]
fn checked_in_files_match_the_cli() {
    let tmp = TempDir::new("gen-docs");
    let out = nats_lite(&["completions", "--write-all", tmp.path().to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let bless = std::env::var_os("NATS_LITE_BLESS").is_some();
    let mut problems = Vec::new();
    for dir in ["completions", "man"] {
        let generated = tmp.path().join(dir);
        let kept = repo().join(dir);
        let (gen_names, kept_names) = (files_in(&generated), files_in(&kept));
        assert!(!gen_names.is_empty(), "nothing generated in {dir}/");
        for name in &gen_names {
            let want = std::fs::read_to_string(generated.join(name)).unwrap();
            let have = std::fs::read_to_string(kept.join(name)).unwrap_or_default();
            if have != want {
                if bless {
                    std::fs::create_dir_all(&kept).unwrap();
                    std::fs::write(kept.join(name), &want).unwrap();
                } else {
                    problems.push(format!(
                        "{dir}/{name} differs, {}",
                        first_difference(&have, &want)
                    ));
                }
            }
        }
        for name in kept_names.iter().filter(|n| !gen_names.contains(n)) {
            if bless {
                std::fs::remove_file(kept.join(name)).unwrap();
            } else {
                problems.push(format!("{dir}/{name} is no longer generated (remove it)"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "completion scripts or man pages are out of date; regenerate them with\n    {REGENERATE}\n\
         (or NATS_LITE_BLESS=1 cargo test ship_completions) and commit the result.\n{}",
        problems.join("\n")
    );
}

/// `nats-lite completions SHELL` prints what is kept for that shell.
#[test]
fn completions_subcommand_prints_scripts() {
    for (shell, file) in [
        ("bash", "nats-lite.bash"),
        ("zsh", "_nats-lite"),
        ("fish", "nats-lite.fish"),
    ] {
        let out = nats_lite(&["completions", shell]);
        assert!(out.status.success(), "{out:?}");
        let kept = std::fs::read(repo().join("completions").join(file)).unwrap();
        assert!(
            out.stdout == kept,
            "`nats-lite completions {shell}` differs from completions/{file}; {REGENERATE}"
        );
    }
    let out = nats_lite(&["completions"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = nats_lite(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// `--man DIR` writes one page per subcommand.
#[test]
fn man_flag_writes_pages() {
    let tmp = TempDir::new("man");
    let dir = tmp.path().join("man1");
    let out = nats_lite(&["completions", "--man", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let names = files_in(&dir);
    for want in [
        "nats-lite.1",
        "nats-lite-server.1",
        "nats-lite-pub.1",
        "nats-lite-sub.1",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
}

/// Every page renders without warnings, with its NAME, SYNOPSIS and
/// examples: with `man -l` when man-db is installed, and with `groff -ww`.
#[test]
fn man_pages_render() {
    let pages = files_in(&repo().join("man"));
    assert!(pages.len() >= 10, "{pages:?}");
    let (man, groff) = (which("man"), which("groff"));
    if man.is_none() && groff.is_none() {
        return skip("man or groff");
    }
    for page in &pages {
        let path = repo().join("man").join(page);
        let stem = page.trim_end_matches(".1");
        let text = if let Some(man) = &man {
            let mut cmd = Command::new(man);
            cmd.arg("-l")
                .arg(&path)
                .env("MANPAGER", "cat")
                .env("MANWIDTH", "100");
            cmd.env("MAN_KEEP_FORMATTING", "").env("LC_ALL", "C.UTF-8");
            let out = run_with_deadline(cmd, Duration::from_secs(20));
            assert!(out.status.success(), "man -l {page}: {out:?}");
            String::from_utf8_lossy(&out.stdout).into_owned()
        } else {
            String::new()
        };
        if let Some(groff) = &groff {
            // -ww: all warnings; -z: no output, only the warnings on stderr.
            let mut cmd = Command::new(groff);
            cmd.args(["-man", "-Tutf8", "-ww", "-z"]).arg(&path);
            let out = run_with_deadline(cmd, Duration::from_secs(20));
            let warnings = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && warnings.is_empty(),
                "groff on {page}:\n{warnings}"
            );
        }
        if man.is_some() {
            // man may render hyphens as U+2010 in some locales; compare plain.
            let plain = text.replace(['\u{2010}', '\u{2212}'], "-");
            assert!(plain.contains("NAME"), "{page}:\n{plain}");
            assert!(plain.contains("SYNOPSIS"), "{page}:\n{plain}");
            assert!(
                plain.contains(stem),
                "{page} does not name {stem}:\n{plain}"
            );
            // Every help's examples are checked by cli.rs's unit test; here,
            // that they survive as sections with their layout.
            if page == "nats-lite-pub.1" {
                assert!(plain.contains("EXAMPLES\n"), "{page}:\n{plain}");
                assert!(
                    plain.contains("\n         nats-lite pub greet.joe 'hello'\n"),
                    "{page}:\n{plain}"
                );
                assert!(plain.contains("EXIT STATUS\n"), "{page}:\n{plain}");
            }
        }
    }
}

/// Completion candidates in bash for the words typed so far (the last one
/// being completed), from the checked-in script, as bash's programmable
/// completion would call its function.
fn bash_complete(bash: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        r#"set -u
source "$1" || exit 3
spec=$(complete -p nats-lite) || exit 4
fn=${{spec#*-F }}; fn=${{fn%% *}}
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"; COMP_POINT=${{#COMP_LINE}}
COMPREPLY=()
"$fn" nats-lite "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        words = quoted.join(" ")
    );
    let mut cmd = Command::new(bash);
    cmd.arg("--norc")
        .arg("-c")
        .arg(script)
        .arg("bash")
        .arg(repo().join("completions/nats-lite.bash"));
    let out = run_with_deadline(cmd, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "bash completion of {words:?}: {out:?}"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Subcommand names and each subcommand's flags complete in bash, including
/// after the hyphen in `nats-lite` (clap-rs/clap#6421) and in `watch-http`.
#[test]
fn bash_completes_subcommands_and_flags() {
    let Some(bash) = which("bash") else {
        return skip("bash");
    };
    let cases: &[(&[&str], &[&str])] = &[
        (&["nats-lite", "su"], &["sub"]),
        (&["nats-lite", "se"], &["server"]),
        (
            &["nats-lite", "server", "--tlsc"],
            &["--tlscert", "--tlscacert"],
        ),
        (
            &["nats-lite", "server", "--http"],
            &["--http_port", "--https_port"],
        ),
        (
            &["nats-lite", "server", "--cluster_"],
            &["--cluster_name", "--cluster_advertise", "--cluster_listen"],
        ),
        (&["nats-lite", "pub", "--hea"], &["--header"]),
        (&["nats-lite", "sub", "--qu"], &["--queue"]),
        (
            &["nats-lite", "-s", "nats://h:4222", "req", "--repl"],
            &["--replies"],
        ),
        (&["nats-lite", "top", "--so"], &["--sort"]),
        (&["nats-lite", "completions", "f"], &["fish"]),
        (&["nats-lite", "completions", "--wr"], &["--write-all"]),
    ];
    // Every wanted candidate is offered (other branches may add flags that
    // share a prefix, so more is fine).
    for (words, want) in cases {
        let got = bash_complete(&bash, words);
        for w in *want {
            assert!(
                got.iter().any(|g| g == w),
                "bash: {}<TAB> gave {got:?}, wanted {w}",
                words.join(" ")
            );
        }
    }
    // Exactly: one candidate is completed in place.
    assert_eq!(bash_complete(&bash, &["nats-lite", "su"]), ["sub"]);
    assert_eq!(
        bash_complete(&bash, &["nats-lite", "server", "--tlscac"]),
        ["--tlscacert"]
    );
    // A hyphenated subcommand's own flags (watch-http may still be a stub
    // with only --help).
    let got = bash_complete(&bash, &["nats-lite", "watch-http", "--hel"]);
    assert_eq!(got, ["--help"], "bash: nats-lite watch-http --hel<TAB>");
}

/// In fish, `complete -C` asks for candidates without a terminal.
#[test]
fn fish_completes_subcommands_and_flags() {
    let Some(fish) = which("fish") else {
        return skip("fish");
    };
    let script = repo().join("completions/nats-lite.fish");
    for (line, want) in [
        ("nats-lite su", "sub"),
        ("nats-lite server --tlsc", "--tlscacert"),
        ("nats-lite pub --he", "--header"),
        ("nats-lite watch-http --he", "--help"),
    ] {
        let mut cmd = Command::new(&fish);
        cmd.arg("--no-config").arg("-c").arg(format!(
            "source '{}'; complete -C '{line}'",
            script.display()
        ));
        let out = run_with_deadline(cmd, Duration::from_secs(20));
        let got = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "fish: {out:?}");
        assert!(
            got.lines().any(|l| l.split('\t').next() == Some(want)),
            "fish: {line}<TAB> gave {got:?}, wanted {want}"
        );
    }
}

/// zsh: the script parses, and completion run in a pseudo-terminal under
/// zsh/zpty (with `compadd` reporting its matches) offers subcommands and
/// flags.
#[test]
fn zsh_completes_subcommands_and_flags() {
    let Some(zsh) = which("zsh") else {
        return skip("zsh");
    };
    let script = repo().join("completions/_nats-lite");
    let out = run_with_deadline(
        {
            let mut c = Command::new(&zsh);
            c.arg("-n").arg(&script);
            c
        },
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "zsh -n {}: {out:?}", script.display());

    for (line, want) in [
        ("nats-lite su", "sub"),
        ("nats-lite server --tlsc", "--tlscacert"),
        ("nats-lite pub --he", "--header"),
    ] {
        let mut cmd = Command::new(&zsh);
        cmd.args(["-f", "-c", ZSH_COMPLETE, "zsh"])
            .arg(repo().join("completions"))
            .arg(line)
            .env("TERM", "dumb");
        let out = run_with_deadline(cmd, Duration::from_secs(30));
        let got = String::from_utf8_lossy(&out.stdout);
        if out.status.code() == Some(3) {
            return skip("zsh/zpty");
        }
        let matches: Vec<&str> = got
            .split("<<")
            .skip(1)
            .filter_map(|m| m.split_once(">>"))
            .flat_map(|(m, _)| m.split_whitespace())
            .collect();
        assert!(
            matches.contains(&want),
            "zsh: {line}<TAB> gave {got:?}, wanted {want}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// zsh -c SCRIPT zsh COMPDIR LINE: an interactive zsh in a pseudo-terminal
/// loads the completion from COMPDIR, types LINE and a TAB, and prints what
/// `compadd` matched as `<<match match>>`; exits 3 without zsh/zpty.
const ZSH_COMPLETE: &str = r#"
zmodload zsh/zpty 2>/dev/null || exit 3
zpty z 'zsh -f -i'
zpty -w z "PS1='' PS2=''; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'compadd() { local -a m; builtin compadd -O m "$@"; (( $#m )) && print -r -- "<<${(j: :)m}>>"; builtin compadd "$@"; }'
zpty -w z 'print -r -- READY'
zpty -r -m z out '*READY*READY*' || exit 2
zpty -w -n z "$2"$'\t'
got=''
integer i
for (( i = 0; i < 100; i++ )); do
  while zpty -r -t z more; do got+=$more; done
  [[ $got == *'>>'* ]] && { sleep 0.2; while zpty -r -t z more; do got+=$more; done; break }
  sleep 0.1
done
zpty -d z
print -r -- ${(M)${(f)got}:#*<<*}
"#;

/// `--version` everywhere starts with `nats-lite` and names the build.
#[test]
fn version_names_the_build() {
    for args in [
        &["--version"][..],
        &["-v"],
        &["server", "--version"],
        &["server", "-v"],
    ] {
        let out = nats_lite(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.trim_end();
        assert!(
            line.starts_with(concat!(
                "nats-lite ",
                env!("CARGO_PKG_VERSION"),
                " (nats-server protocol "
            )),
            "{args:?}: {line}"
        );
        assert!(line.contains(") git "), "{args:?}: {line}");
        assert!(line.contains(", rustc "), "{args:?}: {line}");
        assert_eq!(line.lines().count(), 1, "{args:?}: {line}");
        assert_eq!(line.split_whitespace().next(), Some("nats-lite"));
    }
}
