//! What `recon rules validate` and `recon rules explain` show.

use crate::pipeline::RunError;
use recon_rules::pack::{Pack, Rule};
use recon_rules::{Views, compile};

/// Compiles every pack against the canonical frames (empty): the same checks a run makes
/// before it evaluates anything. Returns the number of rules.
pub fn validate(packs: &[Pack]) -> Result<usize, RunError> {
    let frames = recon_normalize::build_frames(&Default::default(), &Default::default(), &[])
        .map_err(|e| RunError::Internal(e.to_string()))?;
    let as_of = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
    let views = Views::build(&frames, as_of).map_err(|e| RunError::Internal(e.to_string()))?;
    Ok(compile(packs, &views)?.len())
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
    let params: Vec<String> = pack
        .params
        .iter()
        .filter(|(name, _)| {
            let text = format!(
                "{} {} {} {:?}",
                rule.check,
                rule.query.as_deref().unwrap_or(""),
                rule.scope.as_deref().unwrap_or(""),
                rule.evidence
            );
            text.contains(&format!(":{name}"))
        })
        .map(|(name, value)| format!("{name} = {value}"))
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
