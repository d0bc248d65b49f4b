//! Build information for `nats-lite --version`: the git commit, the target
//! triple and the rustc version, passed to the crate as environment variables
//! (`NATS_LITE_GIT`, `NATS_LITE_TARGET`, `NATS_LITE_RUSTC`) and read by
//! `crate::server::VERSION_LONG`.
//!
//! Nothing here may fail the build: a source tarball without `.git`, a
//! machine without git, or a rustc that does not answer gives "unknown".
//! Packagers building from a tarball can name the commit with
//! `NATS_LITE_GIT_COMMIT=abc1234`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=NATS_LITE_GIT_COMMIT");
    let git = match std::env::var("NATS_LITE_GIT_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => git_commit(&manifest_dir).unwrap_or_else(|| "unknown".to_string()),
    };
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_string());
    let rustc = rustc_version().unwrap_or_else(|| "rustc unknown".to_string());

    println!("cargo:rustc-env=NATS_LITE_GIT={git}");
    println!("cargo:rustc-env=NATS_LITE_TARGET={target}");
    println!("cargo:rustc-env=NATS_LITE_RUSTC={rustc}");
}

/// Run git in `dir` and return its trimmed stdout when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// The short commit of the checkout this crate is built from, or `None`.
///
/// The commit is only taken when the crate's directory is the top of the
/// work tree: a crate unpacked inside some other repository (a vendored
/// tarball, `cargo install` from a registry into a home kept in git) must
/// not report that repository's commit.
fn git_commit(manifest_dir: &Path) -> Option<String> {
    let top = git(manifest_dir, &["rev-parse", "--show-toplevel"])?;
    let same = match (Path::new(&top).canonicalize(), manifest_dir.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same {
        return None;
    }
    // Rebuild when the commit changes: HEAD itself (a checkout) and the
    // branch it points at (a commit). Paths come from git because a work
    // tree made by `git worktree add` keeps them outside `.git/`.
    for path in ["HEAD", "packed-refs"] {
        if let Some(p) = git(manifest_dir, &["rev-parse", "--git-path", path]) {
            rerun_if_changed(manifest_dir, &p);
        }
    }
    if let Some(branch) = git(manifest_dir, &["symbolic-ref", "-q", "HEAD"]) {
        if let Some(p) = git(manifest_dir, &["rev-parse", "--git-path", &branch]) {
            rerun_if_changed(manifest_dir, &p);
        }
    }
    git(manifest_dir, &["rev-parse", "--short", "HEAD"])
}

/// `cargo:rerun-if-changed` for a path git printed (relative to `dir`),
/// only when the file exists: a missing file would make Cargo rerun the
/// script on every build.
fn rerun_if_changed(dir: &Path, path: &str) {
    let p = dir.join(path);
    if p.exists() {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}

/// "rustc 1.95.0" from `$RUSTC -V` ("rustc 1.95.0 (59807616e 2026-04-14)").
fn rustc_version() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("-V").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut words = text.split_whitespace();
    let (name, version) = (words.next()?, words.next()?);
    Some(format!("{name} {version}"))
}
