//! Writes a snapshot: files readable by the owner only, since bodies hold account data. The
//! whole snapshot is built in a hidden staging folder beside the target (`.<name>.partial-…`)
//! and renamed into place when its manifest is written: a folder at the target path is
//! always a finished fetch, and a crash leaves only a hidden partial folder that no reader
//! takes for a snapshot. So a body is written straight into staging (a write that fails is
//! removed), and everything is made durable together, before the rename: an fsync per file
//! as it was written, on the fetch's own async threads, held a 10,000-account fetch back by
//! seconds.

use recon_model::files::{create_private_dir, create_private_file, sync_dir};
use recon_model::manifest::{MANIFEST_FILE, Manifest};
use std::io;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone)]
pub struct SnapshotWriter {
    /// Where the finished snapshot goes.
    root: PathBuf,
    /// Where it is written until the manifest is.
    staging: PathBuf,
    /// An existing snapshot at `root` is replaced (`--force`).
    replace: bool,
}

impl SnapshotWriter {
    /// A writer for a new snapshot at `root`. An existing folder there must be empty: stale
    /// pages of an earlier, longer fetch would otherwise be read as today's.
    pub fn create(root: impl Into<PathBuf>) -> io::Result<Self> {
        Self::new(root.into(), false)
    }

    /// As [`create`](Self::create), but a snapshot already at `root` is replaced whole once
    /// the new one is complete.
    pub fn create_replacing(root: impl Into<PathBuf>) -> io::Result<Self> {
        Self::new(root.into(), true)
    }

    fn new(root: PathBuf, replace: bool) -> io::Result<Self> {
        if !replace && !is_empty_or_missing(&root)? {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not empty: a snapshot is written into a new folder (--force replaces it)",
                    root.display()
                ),
            ));
        }
        let parent = match root.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        create_private_dir(&parent)?;
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "snapshot".into());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let staging = parent.join(format!(".{name}.partial-{}-{nanos}", std::process::id()));
        create_private_dir(&staging)?;
        Ok(SnapshotWriter {
            root,
            staging,
            replace,
        })
    }

    /// Where the finished snapshot is (or will be, once the manifest is written).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `bytes` at `relative` (e.g. `tradezero/TZ1/positions.json`) in the staging
    /// folder; a write that fails leaves no file.
    pub fn write(&self, relative: &str, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let path = self.resolve(relative)?;
        if let Some(parent) = path.parent() {
            create_private_dir(parent)?;
        }
        let written = create_private_file(&path).and_then(|mut f| f.write_all(bytes));
        if written.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        written
    }

    /// Writes the manifest last, then moves the whole snapshot into place.
    /// The manifest is streamed to its file rather than built in memory first: with its
    /// request log it is 70 MB at 100,000 accounts.
    pub fn write_manifest(&self, manifest: &Manifest) -> io::Result<()> {
        use std::io::Write;
        let path = self.resolve(MANIFEST_FILE)?;
        let written = (|| {
            let mut out = io::BufWriter::with_capacity(1 << 20, create_private_file(&path)?);
            serde_json::to_writer_pretty(&mut out, manifest).map_err(io::Error::other)?;
            out.write_all(b"\n")?;
            out.flush()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        written?;
        self.publish()
    }

    /// Renames the staging folder to the target. An empty target folder is replaced by the
    /// rename itself; a snapshot being replaced is moved aside first and removed after.
    fn publish(&self) -> io::Result<()> {
        sync_tree(&self.staging)?;
        let mut old = None;
        if !is_empty_or_missing(&self.root)? {
            if !self.replace {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} was filled during the fetch", self.root.display()),
                ));
            }
            let aside = self.staging.with_extension("old");
            std::fs::rename(&self.root, &aside)?;
            old = Some(aside);
        }
        std::fs::rename(&self.staging, &self.root)?;
        if let Some(parent) = self.root.parent() {
            let _ = sync_dir(if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            });
        }
        if let Some(old) = old {
            std::fs::remove_dir_all(&old)?;
        }
        Ok(())
    }

    /// Refuses paths that would leave the snapshot (an account id like `../x`).
    fn resolve(&self, relative: &str) -> io::Result<PathBuf> {
        let rel = Path::new(relative);
        let safe = rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !safe || relative.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("refusing to write `{relative}` outside the snapshot folder"),
            ));
        }
        Ok(self.staging.join(rel))
    }
}

/// Makes every file and folder under `dir` durable: an fsync of each, on several threads so
/// that the file system batches them (not `syncfs`, which would also wait for every other
/// writer's data on the same file system).
fn sync_tree(dir: &Path) -> io::Result<()> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    let mut i = 0;
    while let Some(d) = dirs.get(i).cloned() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
        i += 1;
    }
    const THREADS: usize = 16;
    let share = files.len().div_ceil(THREADS).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(share)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .try_for_each(|f| std::fs::File::open(f)?.sync_all())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|_| Err(io::Error::other("sync failed")))
        })
    })?;
    dirs.iter().rev().try_for_each(|d| sync_dir(d))
}

fn is_empty_or_missing(dir: &Path) -> io::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e),
    }
}

/// A path segment safe to use as a folder name: an account id as brokers write them.
pub fn is_safe_segment(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn manifest() -> Manifest {
        serde_json::from_str(
            r#"{"format": 1, "as_of": "2026-11-20", "fetched_at": "2026-11-20T21:00:00Z",
                "recon_version": "test", "brokers": {}}"#,
        )
        .unwrap()
    }

    #[test]
    fn writes_owner_only_files_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let w = SnapshotWriter::create(dir.path().join("snap")).unwrap();
        w.write("tradezero/TZ1/positions.json", b"{}").unwrap();
        let path = dir.path().join("snap/tradezero/TZ1/positions.json");
        // Nothing is at the target until the manifest is written.
        assert!(!dir.path().join("snap").exists());
        w.write_manifest(&manifest()).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dir_mode = fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(dir_mode, 0o700);
        }
        assert!(w.write("../escape.json", b"x").is_err());
        assert!(w.write("/etc/passwd", b"x").is_err());
        // No temporary file or staging folder is left behind.
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
        let beside: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(beside, ["snap"], "{beside:?}");
    }

    #[test]
    fn a_non_empty_target_is_refused_unless_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let snap = dir.path().join("snap");
        fs::create_dir_all(snap.join("etrade/K1")).unwrap();
        fs::write(snap.join("etrade/K1/portfolio.0003.json"), b"stale").unwrap();
        let e = SnapshotWriter::create(&snap).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");

        let w = SnapshotWriter::create_replacing(&snap).unwrap();
        w.write("etrade/K1/portfolio.0001.json", b"new").unwrap();
        // Until the new one is complete, the old one is untouched.
        assert!(snap.join("etrade/K1/portfolio.0003.json").exists());
        w.write_manifest(&manifest()).unwrap();
        assert!(
            !snap.join("etrade/K1/portfolio.0003.json").exists(),
            "stale page kept"
        );
        assert_eq!(
            fs::read(snap.join("etrade/K1/portfolio.0001.json")).unwrap(),
            b"new"
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_fetch_that_dies_before_its_manifest_leaves_no_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let snap = dir.path().join("snap");
        let w = SnapshotWriter::create(&snap).unwrap();
        w.write("tradezero/TZ1/positions.json", b"{}").unwrap();
        drop(w); // as a SIGKILL would: no manifest, no rename
        assert!(!snap.exists());
        // Only a hidden staging folder remains, and a new fetch can still start.
        let hidden: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            hidden.iter().all(|n| n.starts_with(".snap.partial-")),
            "{hidden:?}"
        );
        SnapshotWriter::create(&snap).unwrap();
    }

    #[test]
    fn account_ids_that_could_escape_are_not_safe() {
        assert!(is_safe_segment("TZP12345678"));
        assert!(is_safe_segment("a1b2-c3_d4.e5"));
        for bad in ["", "..", ".hidden", "a/b", "a\\b", "a b", "x\0"] {
            assert!(!is_safe_segment(bad), "{bad:?}");
        }
    }
}
