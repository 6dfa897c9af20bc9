//! What the `recon rules` subcommands show: `list`, `validate`, `explain` and `test`.

use crate::pipeline::RunError;
use recon_rules::pack::{Pack, Rule};
use recon_rules::{Views, compile};

/// Compiles every pack against the canonical frames (empty): the same checks a run makes
/// before it evaluates anything. Returns the number of rules.
pub fn validate(packs: &[Pack]) -> Result<usize, RunError> {
    let frames = recon_frames::build_frames(&Default::default(), &Default::default(), &[])
        .map_err(|e| RunError::Internal(e.to_string()))?;
    let as_of = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
    let views = Views::build(&frames, as_of).map_err(|e| RunError::Internal(e.to_string()))?;
    Ok(compile(packs, &views)?.len())
}

/// One line per rule: pack, id, severity, what it runs on, title; columns aligned.
pub fn list(packs: &[Pack]) -> String {
    let rules: Vec<_> = packs
        .iter()
        .flat_map(|p| p.rules.iter().map(move |r| (p, r)))
        .collect();
    let pack_w = rules.iter().map(|(p, _)| p.id.len()).max().unwrap_or(0);
    let id_w = rules.iter().map(|(_, r)| r.id.len()).max().unwrap_or(0);
    rules
        .iter()
        .map(|(pack, r)| {
            format!(
                "{:<pack_w$} {:<id_w$} {:<8} {:<13} {}\n",
                pack.id,
                r.id,
                r.severity.to_string(),
                r.on,
                r.title
            )
        })
        .collect()
}

/// A warning for each rule of `packs` whose doc lacks one of the sections the shipped
/// packs must have (a user's pack is still run: its docs are its authors' business).
pub fn doc_warnings(packs: &[Pack]) -> Vec<String> {
    packs
        .iter()
        .flat_map(|p| p.rules.iter().map(move |r| (p, r)))
        .filter_map(|(pack, rule)| {
            let missing = rule.missing_doc_sections();
            (!missing.is_empty()).then(|| {
                format!(
                    "{}: rule `{}`: its doc lacks {} (see `recon rules explain` of a built-in rule)",
                    pack.file,
                    rule.id,
                    missing.join(", ")
                )
            })
        })
        .collect()
}

/// A rule's documentation, with its definition.
pub fn explain(pack: &Pack, rule: &Rule) -> String {
    let mut out = format!(
        "{} ({} pack {}, {})\n{}\n\n",
        rule.id, pack.id, pack.version, pack.file, rule.title
    );
    out.push_str(&format!("severity: {}\n", rule.severity));
    for w in &rule.severity_when {
        out.push_str(&format!("  {} when {}\n", w.severity, w.when));
    }
    out.push_str(&format!("on:       {}\n", rule.on));
    if let Some(scope) = &rule.scope {
        out.push_str(&format!("where:    {scope}\n"));
    }
    match &rule.query {
        Some(query) => out.push_str(&format!("query:\n{}\n", query.trim_end())),
        None => out.push_str(&format!("check:    {}\n", rule.check)),
    }
    let params: Vec<String> = rule
        .param_names()
        .iter()
        .map(|name| match pack.params.get(name) {
            Some(value) => format!("{name} = {value}"),
            None => format!("{name} (not set in the pack)"),
        })
        .collect();
    if !params.is_empty() {
        out.push_str(&format!("params:   {}\n", params.join(", ")));
    }
    if !rule.doc.trim().is_empty() {
        out.push('\n');
        out.push_str(rule.doc.trim());
        out.push('\n');
    }
    out
}

/// Runs every case file of every pack under `dir`: one line per case, what a failing one
/// missed or found besides, and the count. Returns the text and the number that failed.
pub fn test(dir: &std::path::Path, packs: &[Pack]) -> (String, usize) {
    let results = recon_rules::cases::run_all(dir, packs);
    let (mut passed, mut failed) = (0, 0);
    let mut out = String::new();
    for (pack, results) in &results {
        for r in results {
            let case = format!("{pack}: {} ({})", r.file.display(), r.description);
            if r.passed() {
                passed += 1;
                out.push_str(&format!("ok    {case}\n"));
                continue;
            }
            failed += 1;
            out.push_str(&format!("FAIL  {case}\n"));
            if let Some(e) = &r.error {
                out.push_str(&format!("      error: {e}\n"));
            }
            for m in &r.missing {
                out.push_str(&format!("      missing:    {m:?}\n"));
            }
            for u in &r.unexpected {
                out.push_str(&format!("      unexpected: {u:?}\n"));
            }
            for (rule, want, got) in &r.wrong_passes {
                out.push_str(&format!(
                    "      passes:     {rule} passed {got} rows, the case says {want}\n"
                ));
            }
        }
    }
    out.push_str(&format!("{passed} passed, {failed} failed\n"));
    (out, failed)
}
