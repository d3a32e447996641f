//! File-system helpers: atomic writes (temporary file in the same folder, then rename) so that a
//! crash or a bad input never leaves a half-written output behind.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary path used while `path` is being written.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes `path` atomically: `fill` writes into a temporary file next to it, which is synced and
/// renamed over `path` only if `fill` succeeds; on failure the temporary file is removed.
pub fn write_atomic<E: From<std::io::Error>>(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<(), E>,
) -> Result<(), E> {
    let tmp = temp_path(path);
    let result = (|| {
        let f = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(f);
        fill(&mut w)?;
        w.flush()?;
        w.get_ref().sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

/// Peak resident memory of this process in bytes (`VmHWM` on Linux), if the platform tells.
pub fn peak_host_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `; peak host memory X` for the summary lines, or nothing where it is unknown.
pub fn peak_host_note() -> String {
    peak_host_bytes()
        .map(|b| format!("; peak host memory {}", super::text::human_bytes(b)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_leaves_nothing_and_success_replaces() {
        let dir = std::env::temp_dir().join(format!("ptycho-fsutil-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("out.txt");
        write_bytes_atomic(&p, b"one").unwrap();
        let r: std::io::Result<()> = write_atomic(&p, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("boom"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "temporary file removed"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
