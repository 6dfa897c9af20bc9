//! The conveniences batch users expect of a CLI: `--version` with the commit, shell
//! completions and a man page from the clap definition, and `recon init`, whose output
//! passes `recon config check` once its variables are filled in.

mod common;

use common::*;

#[test]
fn version_names_the_commit_it_was_built_from() {
    let dir = tempfile::tempdir().unwrap();
    let out = recon_in(dir.path(), &["--version"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("recon 0."), "{stdout}");
    assert!(stdout.contains("(commit "), "{stdout}");
}

#[test]
fn completions_and_man_page_come_from_the_clap_definition() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = recon_in(dir.path(), &["completions", shell], &[]);
        assert!(out.status.success(), "{}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        // Every subcommand is offered, including the newest.
        for sub in ["run", "check", "demo", "init", "completions"] {
            assert!(script.contains(sub), "{shell}: no `{sub}`");
        }
    }
    let out = recon_in(dir.path(), &["completions", "tcsh"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));

    let out = recon_in(dir.path(), &["man"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH recon"), "{page}");
    assert!(page.contains("Exit codes"), "the about text is in the page");
}

#[test]
fn init_writes_a_config_that_passes_config_check_once_the_variables_are_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = recon_in(
        dir.path(),
        &[
            "init",
            "ops",
            "--broker",
            "tastytrade",
            "--broker",
            "etrade",
            "--broker",
            "architect",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let ops = dir.path().join("ops");
    let env = std::fs::read_to_string(ops.join(".env")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ops.join(".env"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, ".env is private");
    }
    let vars: Vec<&str> = env
        .lines()
        .filter_map(|l| l.strip_suffix('='))
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(vars.len(), 2 + 4 + 2, "{env}");
    assert!(!env.contains("TRADEZERO") && !env.contains("CLEARSTREET"));

    // As written, the template is not a working config: the first empty variable is named.
    let check = recon_in(&ops, &["config", "check"], &[]);
    assert_eq!(check.status.code(), Some(3), "{}", text(&check));
    assert!(
        String::from_utf8_lossy(&check.stderr).contains("RECON_BROKERS__"),
        "{}",
        text(&check)
    );

    // Filled in (digits included: a key may be all digits), it passes and prints no secret.
    let filled: String = env
        .lines()
        .map(|l| match l.strip_suffix('=') {
            Some(var) if !l.starts_with('#') => format!("{var}=0042{}\n", var.len()),
            _ => format!("{l}\n"),
        })
        .collect();
    std::fs::write(ops.join(".env"), &filled).unwrap();
    let check = recon_in(&ops, &["config", "check"], &[]);
    assert!(check.status.success(), "{}", text(&check));
    let shown = String::from_utf8_lossy(&check.stdout);
    assert!(shown.contains("[brokers.etrade]"), "{shown}");
    assert!(!shown.contains("0042"), "a secret printed: {shown}");

    // Nothing is overwritten without --force.
    let again = recon_in(dir.path(), &["init", "ops", "--broker", "tradezero"], &[]);
    assert_eq!(again.status.code(), Some(3), "{}", text(&again));
    assert_eq!(std::fs::read_to_string(ops.join(".env")).unwrap(), filled);
}
