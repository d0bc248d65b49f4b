//! The process's own resource use for `/varz`: resident memory, CPU share
//! and core count. Read from `/proc/self` on Linux when asked; elsewhere
//! the figures are 0 (best effort, as nats-server's `pse` package).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A CPU sample older than this is replaced on the next `/varz`; a newer
/// one is reused, so that polling `/varz` in a loop still gives a
/// meaningful percentage.
const MIN_SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// CPU use as a percentage of one core, from the change in the process's
/// CPU time between two `/varz` requests (the first one: since start).
#[derive(Debug)]
pub struct CpuSampler {
    last: Mutex<Option<Sample>>,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    cpu: Duration,
    percent: f64,
}

impl CpuSampler {
    /// A sampler whose first reading averages over `since_start` of wall time.
    pub fn new() -> CpuSampler {
        CpuSampler {
            last: Mutex::new(None),
        }
    }

    /// CPU percentage now; `uptime` is the wall time since the server
    /// started (used for the first reading).
    pub fn percent(&self, uptime: Duration) -> f64 {
        let Some(cpu) = process_cpu_time() else {
            return 0.0;
        };
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let percent = match *last {
            Some(prev) if now.duration_since(prev.at) < MIN_SAMPLE_INTERVAL => return prev.percent,
            Some(prev) => share(cpu.saturating_sub(prev.cpu), now.duration_since(prev.at)),
            None => share(cpu, uptime),
        };
        *last = Some(Sample {
            at: now,
            cpu,
            percent,
        });
        percent
    }
}

impl Default for CpuSampler {
    fn default() -> Self {
        CpuSampler::new()
    }
}

/// `cpu` over `wall` as a percentage, rounded to one decimal as nats-server's `pse`.
fn share(cpu: Duration, wall: Duration) -> f64 {
    if wall.is_zero() {
        return 0.0;
    }
    let p = cpu.as_secs_f64() / wall.as_secs_f64() * 100.0;
    (p * 10.0).round() / 10.0
}

/// Number of cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Resident set size in bytes (0 when unknown).
pub fn rss_bytes() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
            return 0;
        };
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// User plus system CPU time of the whole process.
fn process_cpu_time() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name is in parentheses and may hold spaces: count
        // fields from the last ')'. utime and stime are fields 14 and 15.
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        let ticks = clock_ticks_per_second();
        let total = utime + stime;
        Some(
            Duration::from_secs(total / ticks)
                + Duration::from_nanos(total % ticks * 1_000_000_000 / ticks),
        )
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(target_os = "linux")]
fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_is_a_rounded_percentage() {
        assert_eq!(
            share(Duration::from_millis(500), Duration::from_secs(1)),
            50.0
        );
        assert_eq!(share(Duration::from_millis(1), Duration::from_secs(3)), 0.0);
        assert_eq!(share(Duration::from_secs(1), Duration::ZERO), 0.0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn proc_figures_are_read() {
        assert!(rss_bytes() > 0);
        assert!(process_cpu_time().is_some());
        let s = CpuSampler::new();
        assert!(s.percent(Duration::from_secs(1)) >= 0.0);
    }
}
