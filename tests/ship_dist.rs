//! Shipping: what `dist/` installs works together. The configurations are
//! valid, the systemd unit has the hardening it promises (and passes
//! `systemd-analyze verify` where systemd is installed), and the service's
//! configuration, with its paths moved to a temporary directory, runs: pid
//! file, log file, reload through the pid file, and a real logrotate run
//! whose postrotate has the server reopen its log.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::tls_support::Pki;
use crate::util::{nats_lite_bin, skip_missing_peer, TempDir};

fn dist() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dist")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Every `.conf` under dist/, for `nats-lite server -t`.
fn configs() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [dist(), dist().join("examples")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "conf") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// `server -t` loads the TLS files a configuration names: the examples'
/// certificates under /etc/nats-lite/certs/ are replaced by a test CA's.
#[test]
fn configs_are_valid_without_warnings() {
    let tmp = TempDir::new("dist-conf");
    let pki = Pki::new(tmp.path(), "dist");
    let files = configs();
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        let text = read(&file)
            .replace("/etc/nats-lite/certs/server.crt", &pki.cert())
            .replace("/etc/nats-lite/certs/server.key", &pki.key())
            .replace("/etc/nats-lite/certs/ca.pem", &pki.ca());
        let mut settings = text.lines().filter(|l| !l.trim_start().starts_with('#'));
        assert!(
            !settings.any(|l| l.contains("/etc/nats-lite/certs/")),
            "{}: a certificate path the test does not replace",
            file.display()
        );
        let copy = tmp.path().join(file.file_name().unwrap());
        std::fs::write(&copy, text).unwrap();
        let out = Command::new(nats_lite_bin())
            .args(["server", "-t", "-c"])
            .arg(&copy)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", file.display());
        assert!(!stderr.contains("warning"), "{}: {stderr}", file.display());
    }
}

/// The unit's settings as (key, value) pairs, comments dropped.
fn unit_settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn systemd_unit_is_hardened() {
    let text = read(&dist().join("nats-lite.service"));
    let settings = unit_settings(&text);
    let get = |key: &str| -> Vec<&str> {
        settings
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    for (key, want) in [
        ("Type", "notify"),
        ("WatchdogSec", "30s"),
        ("User", "nats"),
        ("Group", "nats"),
        ("Restart", "on-failure"),
        ("NoNewPrivileges", "true"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "true"),
        ("PrivateTmp", "true"),
        ("CapabilityBoundingSet", ""),
        ("LimitNOFILE", "65536"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        (
            "ExecStart",
            "/usr/local/bin/nats-lite server -c /etc/nats-lite/nats-lite.conf",
        ),
    ] {
        assert_eq!(get(key), [want], "{key}= in dist/nats-lite.service");
    }
    // The pid file and log of the configuration it starts are writable.
    let conf = read(&dist().join("nats-lite.conf"));
    let rw = get("ReadWritePaths").join(" ");
    for (key, dir) in [
        ("pid_file", "/run/nats-lite/"),
        ("log_file", "/var/log/nats-lite/"),
    ] {
        assert!(
            conf.contains(&format!("{key}: \"{dir}")),
            "{key} in nats-lite.conf"
        );
        assert!(
            rw.contains(dir.trim_end_matches('/')),
            "ReadWritePaths lacks {dir}"
        );
    }

    let Some(analyze) = which("systemd-analyze") else {
        return skip_missing_peer("systemd-analyze (apt-get install -y systemd)");
    };
    // verify wants the ExecStart binaries to exist: point them at ours.
    let tmp = TempDir::new("unit");
    let unit = tmp.path().join("nats-lite.service");
    let bin = nats_lite_bin();
    std::fs::write(
        &unit,
        text.replace("/usr/local/bin/nats-lite", bin.to_str().unwrap()),
    )
    .unwrap();
    let out = Command::new(analyze)
        .args(["verify", "--man=no"])
        .arg(&unit)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("Failed to initialize manager") {
        return skip_missing_peer(&format!("a systemd-analyze that can run here ({stderr})"));
    }
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}

/// dist/nats-lite.conf with /run/nats-lite and /var/log/nats-lite moved
/// under `dir`.
#[cfg(unix)]
fn service_config_in(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (run, log) = (dir.join("run"), dir.join("log"));
    std::fs::create_dir_all(&run).unwrap();
    std::fs::create_dir_all(&log).unwrap();
    let conf = read(&dist().join("nats-lite.conf"))
        .replace("/run/nats-lite", run.to_str().unwrap())
        .replace("/var/log/nats-lite", log.to_str().unwrap());
    let file = dir.join("nats-lite.conf");
    std::fs::write(&file, conf).unwrap();
    (file, run.join("nats-lite.pid"), log.join("nats-lite.log"))
}

/// The service's configuration runs; `--signal reload=PIDFILE` (what
/// `systemctl reload` does with kill -HUP) reloads it; logrotate with
/// dist/nats-lite.logrotate rotates the log and the server reopens it.
#[cfg(unix)]
#[test]
fn service_config_runs_reloads_and_reopens_its_log() {
    use crate::util::{wait_for_file, ServerProcess, IO_TIMEOUT};
    use std::time::Duration;

    let tmp = TempDir::new("service");
    let (conf, pid_file, log_file) = service_config_in(tmp.path());
    let mut server = ServerProcess::start(&[
        "-c",
        conf.to_str().unwrap(),
        "-m",
        "-1",
        "-l",
        log_file.to_str().unwrap(),
    ]);
    let pid = wait_for_file(&pid_file, IO_TIMEOUT, |t| t.trim().parse::<u32>().is_ok());
    assert_eq!(pid.trim(), server.pid().to_string());
    wait_for_file(&log_file, IO_TIMEOUT, |t| t.contains("Server is ready"));

    let signal = |cmd: &str| {
        let out = Command::new(nats_lite_bin())
            .args(["server", "--signal"])
            .arg(format!("{cmd}={}", pid_file.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "--signal {cmd}: {out:?}");
    };
    signal("reload");
    wait_for_file(&log_file, IO_TIMEOUT, |t| {
        t.contains("Reloaded server configuration")
    });

    if let Some(logrotate) = which("logrotate") {
        // As installed, but run by whoever runs the tests: no `su`, files
        // owned by that user, and our binary in postrotate.
        let rules = read(&dist().join("nats-lite.logrotate"))
            .replace(
                "/var/log/nats-lite",
                log_file.parent().unwrap().to_str().unwrap(),
            )
            .replace(
                "/run/nats-lite",
                pid_file.parent().unwrap().to_str().unwrap(),
            )
            .replace(
                "/usr/local/bin/nats-lite",
                nats_lite_bin().to_str().unwrap(),
            )
            .replace("su nats nats", "")
            .replace("create 0640 nats nats", "create 0640");
        let rules_file = tmp.path().join("logrotate.conf");
        std::fs::write(&rules_file, rules).unwrap();
        let out = Command::new(logrotate)
            .arg("-f")
            .arg("-s")
            .arg(tmp.path().join("logrotate.state"))
            .arg(&rules_file)
            .output()
            .unwrap();
        assert!(out.status.success(), "logrotate: {out:?}");
        let rotated = log_file.with_extension("log.1");
        assert!(
            read(&rotated).contains("Server is ready"),
            "{}",
            rotated.display()
        );
        // logrotate created the new file empty; the server writes to it
        // only once it has reopened it.
        let text = wait_for_file(&log_file, IO_TIMEOUT, |t| t.contains("Reopened log file"));
        assert!(!text.contains("Server is ready"), "{text}");
    } else {
        skip_missing_peer("logrotate (reopening by hand instead)");
        std::fs::rename(&log_file, log_file.with_extension("log.1")).unwrap();
        signal("reopen");
        wait_for_file(&log_file, IO_TIMEOUT, |t| t.contains("Reopened log file"));
    }

    signal("term");
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.is_some(), "the server did not stop on --signal term");
}
