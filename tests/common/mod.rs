//! Helpers the end-to-end tests share: running the binary and reading what it wrote.
#![allow(dead_code)] // each test file uses its own subset

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

/// stdout and stderr of a run, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The run folder `latest.json` names.
pub fn latest_run(out_dir: &Path) -> PathBuf {
    let latest: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("latest.json")).unwrap()).unwrap();
    out_dir.join(latest["dir"].as_str().unwrap())
}

/// Every file below `dir`.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Runs the binary in `dir` with `args` and extra environment; no RECON_CONFIG or RECON_LOG
/// leaks in from the environment running the tests.
pub fn recon_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_recon"));
    cmd.current_dir(dir)
        .args(args)
        .env_remove("RECON_CONFIG")
        .env_remove("RECON_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("recon runs")
}

/// `recon_in` off the async runtime, so an in-process simulator keeps serving meanwhile.
pub async fn recon_blocking(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        recon_in(&dir, &args, &env)
    })
    .await
    .unwrap()
}

/// The simulator serving the demo book, with fresh credentials.
pub async fn demo_sim() -> recon_sim::RunningSim {
    recon_sim::start(
        recon_sim::SimBook::demo(),
        recon_sim::SimCredentials::random(),
        recon_sim::SimOptions::default(),
    )
    .await
    .unwrap()
}

/// A recon.toml pointing every broker at `sim` (each section with `extra` keys), and the
/// simulator's credentials as the `RECON_BROKERS__…` variables a cron job would pass.
pub fn five_broker_config(
    sim: &recon_sim::RunningSim,
    extra: &str,
) -> (String, Vec<(String, String)>) {
    let mut toml = String::from("as_of = \"2026-11-20\"\nout_dir = \"out\"\n");
    let mut env = Vec::new();
    for (broker, creds) in sim.credentials.by_broker() {
        toml.push_str(&format!(
            "\n[brokers.{broker}]\nbase_url = \"{}\"\n{extra}",
            sim.url(broker).unwrap()
        ));
        for (key, value) in creds {
            env.push((
                format!(
                    "RECON_BROKERS__{}__{}",
                    broker.as_str().to_ascii_uppercase(),
                    key.to_ascii_uppercase()
                ),
                value,
            ));
        }
    }
    (toml, env)
}

/// Whether an outside program a consumer test drives (`chromium`, `java`) is installed.
///
/// Under CI (`CI` set and not `false`/`0`) a missing program is a failure: `.ci/run` installs
/// both, so CI always runs these tests. On a developer's machine without it, the test prints
/// one loud line naming what was not checked and the Debian package that enables it, and the
/// caller returns: `cargo test --workspace` passes without root.
pub fn outside_tool(program: &str, version_arg: &str, package: &str, checks: &str) -> bool {
    let found = std::process::Command::new(program)
        .arg(version_arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "`{program}` is not installed but CI is set: {checks} must be checked in CI \
         (apt-get install -y {package}; .ci/run does this)"
    );
    eprintln!(
        "!!! NOT CHECKED: {checks}: `{program}` is not installed \
         (apt-get install -y {package} to run this test)"
    );
    false
}

/// `chromium` for the tests that load pages in a headless browser.
pub fn have_chromium(checks: &str) -> bool {
    outside_tool("chromium", "--version", "chromium", checks)
}
