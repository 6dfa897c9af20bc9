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

/// Every built-in pack, by id.
const BUILT_IN: [&str; 4] = ["core", "risk", "data-quality", "books"];

fn with_packs<'a>(packs: &[&'a str], rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["rules"];
    for p in packs {
        args.extend(["--pack", p]);
    }
    args.extend(rest);
    args
}

#[test]
fn rules_list_names_every_built_in_rule_with_its_pack_severity_and_title() {
    let dir = tempfile::tempdir().unwrap();
    let out = recon_in(dir.path(), &with_packs(&BUILT_IN, &["list"]), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let mut expected = 0;
    for id in BUILT_IN {
        let pack = recon_rules::pack::builtin_pack(id).unwrap().unwrap();
        for rule in &pack.rules {
            expected += 1;
            let line = lines
                .iter()
                .find(|l| l.get(1) == Some(&rule.id.as_str()))
                .unwrap_or_else(|| panic!("no line for {}:\n{stdout}", rule.id));
            assert_eq!(line[0], id, "{line:?}");
            assert_eq!(line[2], rule.severity.to_string(), "{line:?}");
            assert_eq!(line[3], rule.on, "{line:?}");
            assert_eq!(line[4..].join(" "), rule.title, "{line:?}");
        }
    }
    assert_eq!(lines.len(), expected, "one line per rule:\n{stdout}");
}

/// A user's pack with two parameters whose names share a prefix, and a rule naming one.
const USER_PACK: &str = r#"
[pack]
id = "mine"
version = "1"

[params]
tol = "1.00"
tol_abs = "5"

[[rule]]
id = "cash-small"
title = "Cash is small"
severity = "warning"
on = "account_view"
check = "cash <= :tol_abs"
message = "cash {cash}"
doc = "What it checks: cash is at most tol_abs."
"#;

#[test]
fn rules_explain_shows_the_doc_and_exactly_the_params_the_rule_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = recon_in(
        dir.path(),
        &with_packs(&BUILT_IN, &["explain", "book-value-break"]),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let params = stdout
        .lines()
        .find(|l| l.starts_with("params:"))
        .unwrap_or_else(|| panic!("no params line:\n{stdout}"));
    let names: Vec<&str> = params["params:".len()..]
        .split(',')
        .map(|p| p.split('=').next().unwrap().trim())
        .collect();
    assert_eq!(names, ["value_tol_abs", "value_tol_rel"], "{params}");
    for section in recon_rules::pack::DOC_SECTIONS {
        assert!(stdout.contains(section), "no `{section}`:\n{stdout}");
    }

    // `:tol_abs` names tol_abs, not tol.
    std::fs::write(dir.path().join("mine.toml"), USER_PACK).unwrap();
    let out = recon_in(
        dir.path(),
        &with_packs(&["mine.toml"], &["explain", "cash-small"]),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("params:   tol_abs = 5\n"), "{stdout}");

    let out = recon_in(
        dir.path(),
        &with_packs(&BUILT_IN, &["explain", "book-value-brake"]),
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("did you mean `book-value-break`"),
        "{}",
        text(&out)
    );
}

#[test]
fn rules_validate_warns_of_a_user_rule_whose_doc_lacks_sections() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mine.toml"), USER_PACK).unwrap();
    let out = recon_in(dir.path(), &with_packs(&["mine.toml"], &["validate"]), &[]);
    assert!(
        out.status.success(),
        "a user's pack still runs: {}",
        text(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rule `cash-small`: its doc lacks Why it matters:, Fails:, Passes:"),
        "{stderr}"
    );
    let out = recon_in(dir.path(), &with_packs(&BUILT_IN, &["validate"]), &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "{}",
        text(&out)
    );
}
