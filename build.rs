//! Stamps the git commit into `recon --version` (BUILD_GIT_COMMIT); `unknown` outside a git
//! checkout (a crate tarball). No `-dirty` mark: telling it right would rerun this script on
//! every edit, and the binary would relink for nothing.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BUILD_GIT_COMMIT=commit {commit}");
    // Rerun when HEAD moves: a checkout changes HEAD, a commit changes the branch's ref.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let head_ref = git(&["symbolic-ref", "-q", "HEAD"]);
        // Only files that exist: cargo reruns the script every build for a missing one.
        for f in ["HEAD", "packed-refs"]
            .into_iter()
            .chain(head_ref.as_deref())
        {
            let path = std::path::Path::new(&dir).join(f);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
