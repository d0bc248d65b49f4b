//! The machine's figures: load average, processor count, memory and swap.
//!
//! Linux reads `loadavg` and `meminfo` under the proc filesystem (`/proc`,
//! or the host's as mounted into a container: `--procfs /host/proc`, as
//! node_exporter's `--path.procfs`); other unixes take the load from
//! `getloadavg(3)`. A figure a platform cannot give is `None`
//! (the caller says so once), never a made-up zero.

use std::path::Path;

/// The load average over 1, 5 and 15 minutes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// Over 1 minute.
    pub one: f64,
    /// Over 5 minutes.
    pub five: f64,
    /// Over 15 minutes.
    pub fifteen: f64,
}

/// Memory and swap, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Physical memory.
    pub total: u64,
    /// What programs can still get without swapping (`MemAvailable`).
    pub available: u64,
    /// Swap space.
    pub swap_total: u64,
    /// Unused swap.
    pub swap_free: u64,
}

impl Memory {
    /// Memory in use: total less available.
    pub fn used(&self) -> u64 {
        self.total.saturating_sub(self.available)
    }

    /// Swap in use.
    pub fn swap_used(&self) -> u64 {
        self.swap_total.saturating_sub(self.swap_free)
    }
}

/// `part` of `whole` in percent (0 when `whole` is 0).
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// The load average, or `None` where the platform has none (Windows).
pub fn load(procfs: &Path) -> Option<Load> {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string(procfs.join("loadavg"))
            .ok()
            .and_then(|text| parse_loadavg(&text))
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        let _ = procfs;
        let mut v = [0f64; 3];
        // SAFETY: getloadavg writes at most 3 doubles into v.
        let n = unsafe { libc::getloadavg(v.as_mut_ptr(), 3) };
        (n == 3).then_some(Load {
            one: v[0],
            five: v[1],
            fifteen: v[2],
        })
    }
    #[cfg(not(unix))]
    {
        let _ = procfs;
        None
    }
}

/// `/proc/loadavg`: "0.52 0.40 0.33 1/123 4567".
#[cfg(any(target_os = "linux", test))]
pub fn parse_loadavg(text: &str) -> Option<Load> {
    let mut it = text.split_whitespace().map(|w| w.parse::<f64>().ok());
    Some(Load {
        one: it.next()??,
        five: it.next()??,
        fifteen: it.next()??,
    })
}

/// Processors online (what the load average is shared by).
pub fn cpus() -> usize {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        if n > 0 {
            return n as usize;
        }
    }
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Memory and swap, or `None` where not known (only Linux for now).
pub fn memory(procfs: &Path) -> Option<Memory> {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string(procfs.join("meminfo"))
            .ok()
            .and_then(|text| parse_meminfo(&text))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = procfs;
        None
    }
}

/// `/proc/meminfo` ("MemTotal:  8052756 kB" lines).
#[cfg(any(target_os = "linux", test))]
pub fn parse_meminfo(text: &str) -> Option<Memory> {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix(':')?;
            let kb: u64 = rest.split_whitespace().next()?.parse().ok()?;
            Some(kb * 1024)
        })
    };
    let total = field("MemTotal")?;
    // Kernels before 3.14 have no MemAvailable: free + buffers + cache.
    let available = field("MemAvailable").or_else(|| {
        Some(field("MemFree")? + field("Buffers").unwrap_or(0) + field("Cached").unwrap_or(0))
    })?;
    Some(Memory {
        total,
        available,
        swap_total: field("SwapTotal").unwrap_or(0),
        swap_free: field("SwapFree").unwrap_or(0),
    })
}

/// This machine's name.
pub fn hostname() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most buf.len() bytes.
        if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            let name = String::from_utf8_lossy(&buf[..end]).into_owned();
            if !name.is_empty() {
                return name;
            }
        }
    }
    std::env::var("COMPUTERNAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loadavg() {
        let l = parse_loadavg("0.52 0.40 1.33 1/123 4567\n").unwrap();
        assert_eq!((l.one, l.five, l.fifteen), (0.52, 0.40, 1.33));
        assert_eq!(parse_loadavg("x"), None);
    }

    #[test]
    fn meminfo() {
        let m = parse_meminfo(
            "MemTotal:        8000 kB\nMemFree:  1000 kB\nMemAvailable:   3000 kB\n\
             SwapTotal:       2000 kB\nSwapFree:        500 kB\n",
        )
        .unwrap();
        assert_eq!(m.total, 8000 * 1024);
        assert_eq!(m.used(), 5000 * 1024);
        assert_eq!(m.swap_used(), 1500 * 1024);
        assert_eq!(percent(m.used(), m.total), 62.5);
        let old = parse_meminfo("MemTotal: 100 kB\nMemFree: 10 kB\nCached: 20 kB\n").unwrap();
        assert_eq!(old.available, 30 * 1024);
        assert_eq!(old.swap_total, 0);
    }
}
