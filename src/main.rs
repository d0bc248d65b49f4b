//! The `nats-lite` binary: parse the command line, run one subcommand, turn
//! its result into an exit code. Everything else lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = nats_lite::cli::main_with_args(std::env::args_os().collect());
    report_peak_memory_for_tests();
    code
}

/// Test-only, in debug builds on Linux: when `NATS_LITE_TEST_PEAK_RSS_FILE`
/// names a file, write the process's peak resident memory (`VmHWM`, in KiB)
/// to it on the way out. The tests cannot take it from `wait4`: a child
/// spawned with vfork (as std does) inherits its parent's peak at exec, so
/// `ru_maxrss` reports at least the test runner's own peak. Release builds
/// have no hook.
#[cfg(all(debug_assertions, target_os = "linux"))]
fn report_peak_memory_for_tests() {
    let Some(path) = std::env::var_os("NATS_LITE_TEST_PEAK_RSS_FILE") else {
        return;
    };
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return;
    };
    if let Some(kib) = status.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
        let _ = std::fs::write(path, kib.trim().trim_end_matches("kB").trim());
    }
}

/// Release builds and other systems: no hook.
#[cfg(not(all(debug_assertions, target_os = "linux")))]
fn report_peak_memory_for_tests() {}
