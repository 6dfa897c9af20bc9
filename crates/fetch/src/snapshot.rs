//! Writes a snapshot: every file through a temporary file and a rename, so a crash never
//! leaves half a body behind; files readable by the owner only, since bodies hold account
//! data.

use recon_model::files::{create_private_dir, write_atomic};
use recon_model::manifest::{MANIFEST_FILE, Manifest};
use std::io;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone)]
pub struct SnapshotWriter {
    root: PathBuf,
}

impl SnapshotWriter {
    /// Creates the snapshot folder (owner-only) if it does not exist.
    pub fn create(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        create_private_dir(&root)?;
        Ok(SnapshotWriter { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `bytes` at `relative` (e.g. `tradezero/TZ1/positions.json`) atomically.
    pub fn write(&self, relative: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.resolve(relative)?;
        if let Some(parent) = path.parent() {
            create_private_dir(parent)?;
        }
        write_atomic(&path, bytes)
    }

    pub fn write_manifest(&self, manifest: &Manifest) -> io::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
        bytes.push(b'\n');
        self.write(MANIFEST_FILE, &bytes)
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
        Ok(self.root.join(rel))
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

    #[test]
    fn writes_owner_only_files_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let w = SnapshotWriter::create(dir.path().join("snap")).unwrap();
        w.write("tradezero/TZ1/positions.json", b"{}").unwrap();
        let path = dir.path().join("snap/tradezero/TZ1/positions.json");
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
        // No temporary file is left behind.
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
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
