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
                value.to_string(),
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
    missing_tool(program, package, checks);
    false
}

/// Says that `program` (Debian package `package`) is missing: a failure under CI, one loud
/// `!!! NOT CHECKED` line elsewhere.
pub fn missing_tool(program: &str, package: &str, checks: &str) {
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
}

/// `chromium` for the tests that load pages in a headless browser.
pub fn have_chromium(checks: &str) -> bool {
    outside_tool("chromium", "--version", "chromium", checks)
}

/// A PostgreSQL server of Debian's `postgresql` package, started for a test on 127.0.0.1
/// (trust authentication, no fsync) in a temporary folder, stopped when dropped.
pub struct Postgres {
    pub port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Postgres {
    /// `None` (after one loud line) where the package is missing and `CI` is not set; under
    /// CI a missing server fails the test (.ci/run installs it).
    pub fn start() -> Option<Postgres> {
        let bin = glob::glob("/usr/lib/postgresql/*/bin/initdb")
            .ok()?
            .filter_map(Result::ok)
            .max()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let Some(bin) = bin else {
            missing_tool("initdb", "postgresql", "a book of record in PostgreSQL");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        // initdb refuses to run as root: then the package's `postgres` user owns the folder
        // and runs the server (std's CommandExt::uid/gid, no outside program).
        let user = (unsafe { libc::geteuid() } == 0)
            .then(postgres_user)
            .flatten();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let command = |program: &str| {
            let mut cmd = std::process::Command::new(bin.join(program));
            if let Some((uid, gid)) = user {
                use std::os::unix::process::CommandExt;
                cmd.uid(uid).gid(gid);
            }
            cmd.stdout(std::process::Stdio::null());
            cmd
        };
        let init = command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .stderr(std::process::Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(init.success(), "initdb failed");
        let port = free_port();
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = command("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-F"])
            .arg("-k")
            .arg(dir.path())
            .stderr(log)
            .spawn()
            .expect("postgres starts");
        let mut server = Postgres {
            port,
            child,
            _dir: dir,
        };
        wait_for_port(&mut server.child, port, 30, "PostgreSQL", &log_path);
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A client of the server (inside a tokio runtime). The server may accept connections a
    /// moment before it accepts queries: connecting is retried for 10 s.
    pub async fn client(&self) -> tokio_postgres::Client {
        let mut tries = 0;
        loop {
            match tokio_postgres::connect(&self.url(), tokio_postgres::NoTls).await {
                Ok((client, connection)) => {
                    tokio::spawn(connection);
                    return client;
                }
                Err(_) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Err(e) => panic!("cannot connect to the test server: {e}"),
            }
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago (for a server to bind, or for a
/// connection that must be refused).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A generated book with planted breaks (break rate 0.3, business date 2026-11-20), served
/// by the simulator and fetched under `out/fetched`: the snapshot's folder.
pub fn generated_snapshot(out: &Path, seed: u64, accounts: usize, positions: usize) -> PathBuf {
    let (book, planted) = generated_book(seed, accounts, positions);
    assert!(!planted.is_empty(), "breaks are planted");
    let result = recon::demo::run_book_with(
        book,
        &recon::demo::DemoOptions {
            out_dir: out.join("fetched"),
            as_of: None,
            fail_on: recon_rules::Severity::Error,
        },
        std::collections::BTreeMap::new(),
    )
    .unwrap();
    result.run.output.dir.join("snapshot")
}

/// The book `generated_snapshot` serves (the generator is seeded: the same arguments give
/// the same book), and the planted breaks.
fn generated_book(
    seed: u64,
    accounts: usize,
    positions: usize,
) -> (recon_sim::SimBook, Vec<recon_sim::generate::Expected>) {
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    let spec = recon_sim::generate::GenSpec {
        break_rate: 0.3,
        ..recon_sim::generate::GenSpec::new(seed, accounts, positions, as_of)
    };
    recon_sim::generate::generate(&spec)
}

/// A book of record of `generated_snapshot`'s book, with planted breaks, as `book.csv` and
/// `cash.csv` in `out`; returns the number of planted `books` findings.
pub fn generated_book_of_record(out: &Path, seed: u64, accounts: usize, positions: usize) -> usize {
    let (book, _) = generated_book(seed, accounts, positions);
    let record = recon_sim::record::book_of_record(&book, seed, 0.3);
    std::fs::write(out.join("book.csv"), record.positions_csv()).unwrap();
    std::fs::write(out.join("cash.csv"), record.cash_csv()).unwrap();
    record.expected.len()
}

/// Waits until a server the test started accepts connections on 127.0.0.1:`port`; fails
/// the test with the server's log if it exits or takes longer than `seconds`.
fn wait_for_port(
    child: &mut std::process::Child,
    port: u16,
    seconds: u64,
    name: &str,
    log_path: &Path,
) {
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = child.try_wait().ok().flatten();
        if exited.is_some() || started.elapsed() > std::time::Duration::from_secs(seconds) {
            panic!(
                "{name} did not start ({exited:?}): {}",
                std::fs::read_to_string(log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// findings.jsonl without run ids (in the file's order), and summary.json's rule counts and
/// accounts checked: what two runs of the same book must agree on.
pub fn run_outcome(run_dir: &Path) -> (Vec<String>, Value, Value) {
    let findings = std::fs::read_to_string(run_dir.join("findings.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("run_id");
            v.to_string()
        })
        .collect();
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    (
        findings,
        summary["rules"].clone(),
        summary["accounts_checked"].clone(),
    )
}

/// The uid and gid of the `postgres` user Debian's package creates.
fn postgres_user() -> Option<(u32, u32)> {
    let name = std::ffi::CString::new("postgres").ok()?;
    // SAFETY: getpwnam reads the password database and returns a pointer to static storage
    // (or null); both fields are copied out at once, on this thread.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return None;
    }
    Some(unsafe { ((*entry).pw_uid, (*entry).pw_gid) })
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Fast shutdown (SIGINT), then wait, so nothing is left behind.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        // If the server is gone already, do not wait forever.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < until {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `.ci/run` installs PyPI's `pyspark` (a virtual environment), unless
/// `RECON_SPARK_HOME` names a Spark home.
pub fn spark_home() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("RECON_SPARK_HOME") {
        return Some(PathBuf::from(home));
    }
    let venv = PathBuf::from(std::env::var_os("HOME")?).join(".cache/recon-pyspark");
    glob::glob(&format!(
        "{}/lib/python3*/site-packages/pyspark",
        venv.display()
    ))
    .ok()?
    .filter_map(Result::ok)
    .find(|p| p.join("bin/spark-submit").is_file())
}

/// A Spark Connect server of PyPI's `pyspark` (local[2], on 127.0.0.1 only, its UI off),
/// started for a test in a temporary folder and stopped when dropped.
pub struct SparkConnect {
    pub port: u16,
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl SparkConnect {
    /// `None` (after one loud line) where pyspark or java is missing and `CI` is not set;
    /// under CI a missing one fails the test (.ci/run installs both).
    pub fn start() -> Option<SparkConnect> {
        use std::os::unix::process::CommandExt;
        let checks = "the same packs on Apache Spark through Spark Connect";
        if !outside_tool("java", "-version", "default-jdk-headless", checks) {
            return None;
        }
        let Some(home) = spark_home() else {
            missing_tool(
                "pyspark",
                "(PyPI) pyspark in ~/.cache/recon-pyspark",
                checks,
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let conf = |k: &str, v: &str| ["--conf".to_string(), format!("{k}={v}")];
        let mut args: Vec<String> = vec![
            "--class".into(),
            "org.apache.spark.sql.connect.service.SparkConnectServer".into(),
            "--master".into(),
            "local[2]".into(),
        ];
        for (k, v) in [
            ("spark.connect.grpc.binding.address", "127.0.0.1"),
            ("spark.connect.grpc.binding.port", &port.to_string()),
            ("spark.driver.host", "127.0.0.1"),
            ("spark.driver.bindAddress", "127.0.0.1"),
            ("spark.ui.enabled", "false"),
            ("spark.sql.shuffle.partitions", "4"),
            (
                "spark.sql.warehouse.dir",
                &dir.path().join("warehouse").to_string_lossy(),
            ),
        ] {
            args.extend(conf(k, v));
        }
        args.push("spark-internal".into());
        let child = std::process::Command::new(home.join("bin/spark-submit"))
            .args(&args)
            .current_dir(dir.path())
            .env("SPARK_HOME", &home)
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .env_remove("PYSPARK_PYTHON")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // Its own process group: spark-submit starts the JVM as a child, and the
            // group is what gets stopped.
            .process_group(0)
            .spawn()
            .expect("spark-submit starts");
        let mut server = SparkConnect { port, child, dir };
        wait_for_port(&mut server.child, port, 180, "Spark Connect", &log_path);
        Some(server)
    }

    pub fn remote(&self) -> String {
        format!("sc://127.0.0.1:{}", self.port)
    }

    /// The server's log so far, for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for SparkConnect {
    fn drop(&mut self) {
        // The whole group (spark-submit and its JVM): SIGTERM, then SIGKILL after 10 s.
        let group = -(self.child.id() as i32);
        unsafe {
            libc::kill(group, libc::SIGTERM);
        }
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < until {
            if self.child.try_wait().ok().flatten().is_some() {
                unsafe {
                    libc::kill(group, libc::SIGKILL);
                }
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        unsafe {
            libc::kill(group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}
