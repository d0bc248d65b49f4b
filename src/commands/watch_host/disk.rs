//! Disk usage of a path's filesystem from `statvfs(3)`, as `df` counts it,
//! and the mounts worth reporting when no path is configured.
//!
//! `used` is blocks in use (total less free), `free` is what an ordinary
//! user may still write (`f_bavail`), and the percentage is df's "Use%":
//! used over used plus free, so the blocks reserved for root count as full.

use std::path::{Path, PathBuf};

use super::system::percent;

/// One filesystem's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskUsage {
    /// The path asked about.
    pub path: PathBuf,
    /// Size in bytes.
    pub total: u64,
    /// Bytes in use.
    pub used: u64,
    /// Bytes an unprivileged user may still write.
    pub free: u64,
    /// Inodes in all (0 on filesystems without a fixed count).
    pub inodes_total: u64,
    /// Inodes free.
    pub inodes_free: u64,
}

impl DiskUsage {
    /// df's Use%.
    pub fn used_percent(&self) -> f64 {
        percent(self.used, self.used + self.free)
    }

    /// Inodes in use.
    pub fn inodes_used(&self) -> u64 {
        self.inodes_total.saturating_sub(self.inodes_free)
    }

    /// Inodes in use, in percent.
    pub fn inodes_used_percent(&self) -> f64 {
        percent(self.inodes_used(), self.inodes_total)
    }
}

/// True where [`usage`] works.
pub const AVAILABLE: bool = cfg!(unix);

/// The figures of the filesystem that holds `path`.
///
/// # Errors
///
/// `statvfs` failed (no such path, no permission), or the platform has no
/// statvfs.
pub fn usage(path: &Path) -> std::io::Result<DiskUsage> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: an all-zero statvfs is a valid value to be overwritten.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: c is a NUL-terminated path and st a valid out pointer.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        #[allow(clippy::unnecessary_cast)] // the field types differ by platform
        let (frsize, blocks, bfree, bavail, files, ffree) = (
            st.f_frsize as u64,
            st.f_blocks as u64,
            st.f_bfree as u64,
            st.f_bavail as u64,
            st.f_files as u64,
            st.f_ffree as u64,
        );
        Ok(DiskUsage {
            path: path.to_path_buf(),
            total: blocks * frsize,
            used: blocks.saturating_sub(bfree) * frsize,
            free: bavail * frsize,
            inodes_total: files,
            inodes_free: ffree,
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "no statvfs on this platform",
        ))
    }
}

/// What to report without `--disk`: `/` and, on Linux, every mount of a
/// block device (`/dev/...`), one path per filesystem.
pub fn default_paths() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if cfg!(unix) {
        paths.push(PathBuf::from("/"));
    }
    #[cfg(target_os = "linux")]
    if let Ok(text) = std::fs::read_to_string("/proc/self/mounts") {
        paths.extend(block_device_mounts(&text));
    }
    dedup_filesystems(paths)
}

/// Mount points of `/dev/...` devices in a mounts table (`/proc/self/mounts`).
#[cfg(any(target_os = "linux", test))]
pub fn block_device_mounts(table: &str) -> Vec<PathBuf> {
    table
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let dev = f.next()?;
            let at = f.next()?;
            dev.starts_with("/dev/")
                .then(|| PathBuf::from(unescape_mount(at)))
        })
        .collect()
}

/// `/proc/mounts` writes a space as `\040`, a tab as `\011`.
#[cfg(any(target_os = "linux", test))]
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let n = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(n);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Keep the first path of each filesystem (bind mounts and the like).
fn dedup_filesystems(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mut seen = Vec::new();
        paths
            .into_iter()
            .filter(|p| match std::fs::metadata(p) {
                Ok(m) if !seen.contains(&m.dev()) => {
                    seen.push(m.dev());
                    true
                }
                _ => false,
            })
            .collect()
    }
    #[cfg(not(unix))]
    {
        paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_of_block_devices() {
        let table = "proc /proc proc rw 0 0\n/dev/sda1 / ext4 rw 0 0\n\
                     /dev/sdb1 /mnt/my\\040disk ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n";
        assert_eq!(
            block_device_mounts(table),
            [PathBuf::from("/"), PathBuf::from("/mnt/my disk")]
        );
    }

    #[cfg(unix)]
    #[test]
    fn root_has_figures() {
        let d = usage(Path::new("/")).unwrap();
        assert!(d.total > 0 && d.used <= d.total && d.free <= d.total);
        assert!((0.0..=100.0).contains(&d.used_percent()));
        assert!(usage(Path::new("/no/such/path")).is_err());
    }
}
