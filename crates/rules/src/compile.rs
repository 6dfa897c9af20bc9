//! Compiling rules: literals and parameters made exact (`literals`), each expression parsed
//! by polars' own SQL expression parser, and everything checked against the view it runs on
//! before anything runs: the view exists, every column and parameter exists (with the
//! nearest valid name suggested), `check`, `where` and conditions are boolean, and no
//! evidence turned into a float. A pack that fails is refused whole, naming file and rule.

use crate::finding::Severity;
use crate::literals::{RewriteError, rewrite};
use crate::pack::{Pack, PackError, Param, Rule, check_unique_ids, nearest};
use crate::params::Overrides;
use crate::views::Views;
use polars::prelude::*;
use polars::sql::{SQLContext, sql_expr};
use std::collections::{BTreeMap, BTreeSet};

/// Columns that identify a finding, when the view has them.
pub const KEY_COLUMNS: [&str; 4] = ["broker", "account_id", "position_id", "symbol"];

/// A piece of a message template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessagePart {
    Text(String),
    /// A view column or an evidence name.
    Value(String),
}

#[derive(Clone)]
pub struct CompiledRule {
    pub pack: String,
    pub pack_file: String,
    pub id: String,
    pub title: String,
    pub view: String,
    pub scope: Option<Expr>,
    pub check: Expr,
    pub severity: Severity,
    pub severity_when: Vec<(Expr, Severity)>,
    pub evidence: Vec<(String, Expr)>,
    pub message: Vec<MessagePart>,
    /// Key columns present in the view.
    pub keys: Vec<&'static str>,
    /// View columns the message names (evidence names excluded).
    pub message_columns: Vec<String>,
    /// Per-row parameter columns (`params`) added to the view before the rule runs.
    pub param_columns: Vec<Expr>,
    /// A `query` rule's plan: its rows are the failures.
    pub query: Option<LazyFrame>,
}

struct Ctx<'a> {
    pack: &'a Pack,
    rule: &'a Rule,
    schema: &'a Schema,
    params: BTreeMap<String, Param>,
    per_row: BTreeSet<String>,
}

impl Ctx<'_> {
    fn err(&self, message: impl Into<String>, suggestion: Option<String>) -> PackError {
        PackError::Rule {
            file: self.pack.file.clone(),
            rule: self.rule.id.clone(),
            message: message.into(),
            suggestion,
        }
    }

    /// Rewrites, parses and checks the columns of one SQL expression of the rule.
    fn expr(&self, field: &str, sql: &str) -> Result<Expr, PackError> {
        let exact = rewrite(sql, &self.params, &self.per_row).map_err(|e| {
            let (message, suggestion) = rewrite_failed(field, e);
            self.err(message, suggestion)
        })?;
        let expr = sql_expr(&exact)
            .map_err(|e| self.err(format!("`{field}` is not a valid expression: {e}"), None))?;
        for name in expr.clone().meta().root_names() {
            let param_column = name
                .strip_prefix("__param_")
                .is_some_and(|p| self.per_row.contains(p));
            if self.schema.get(name.as_str()).is_none() && !param_column {
                return Err(self.err(
                    format!(
                        "unknown column `{name}` in `{field}` (view `{}`)",
                        self.rule.on
                    ),
                    nearest(&name, self.schema.iter_names().map(|n| n.as_str())),
                ));
            }
        }
        Ok(expr)
    }
}

/// What to say when making `field`'s literals exact failed: message and suggestion.
fn rewrite_failed(field: &str, e: RewriteError) -> (String, Option<String>) {
    match e {
        RewriteError::UnknownParam { name, suggestion } => (
            format!("unknown parameter `:{name}` in `{field}`"),
            suggestion,
        ),
        RewriteError::Syntax(m) => (format!("`{field}` is not valid SQL: {m}"), None),
        RewriteError::BadLiteral(m) => (
            format!("`{field}` has a literal recon cannot keep exact: {m}"),
            None,
        ),
    }
}

/// Parses `{name}` placeholders; any other brace is text.
pub fn parse_message(template: &str) -> Vec<MessagePart> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}');
        let name = close.map(|c| &after[..c]);
        match name {
            Some(n)
                if !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                text.push_str(&rest[..open]);
                if !text.is_empty() {
                    parts.push(MessagePart::Text(std::mem::take(&mut text)));
                }
                parts.push(MessagePart::Value(n.to_string()));
                rest = &after[n.len() + 1..];
            }
            _ => {
                text.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        parts.push(MessagePart::Text(text));
    }
    parts
}

/// A `query` rule: the statement runs over every view and frame by name.
fn compile_query(
    pack: &Pack,
    rule: &Rule,
    sql: &str,
    views: &Views,
    overrides: &Overrides,
) -> Result<CompiledRule, PackError> {
    let err = |message: String, suggestion: Option<String>| PackError::Rule {
        file: pack.file.clone(),
        rule: rule.id.clone(),
        message,
        suggestion,
    };
    let params = overrides.effective(pack);
    let exact = rewrite(sql, &params, &BTreeSet::new()).map_err(|e| {
        let (message, suggestion) = rewrite_failed("query", e);
        err(message, suggestion)
    })?;
    let mut ctx = SQLContext::new();
    for name in views.names() {
        if let Some(df) = views.get(name) {
            ctx.register(name, df.clone().lazy());
        }
    }
    let plan = ctx
        .execute(&exact)
        .map_err(|e| err(format!("`query` cannot run over the views: {e}"), None))?;
    let schema = plan
        .clone()
        .collect_schema()
        .map_err(|e| err(format!("`query` does not type-check: {e}"), None))?;
    if schema.get("account_id").is_none() {
        return Err(err(
            "`query` must return `account_id` (and `broker`) so its findings name an account"
                .into(),
            None,
        ));
    }
    let keys: Vec<&'static str> = KEY_COLUMNS
        .into_iter()
        .filter(|k| schema.get(k).is_some())
        .collect();
    let mut evidence = Vec::new();
    for (name, dtype) in schema.iter() {
        if dtype.is_float() {
            return Err(err(
                format!("`query` column `{name}` is a float ({dtype}); money must stay Decimal"),
                None,
            ));
        }
        if !keys.contains(&name.as_str()) {
            evidence.push((name.to_string(), col(name.as_str())));
        }
    }
    let message = parse_message(&rule.message);
    let mut message_columns = Vec::new();
    for part in &message {
        if let MessagePart::Value(name) = part {
            if schema.get(name).is_none() {
                return Err(err(
                    format!("unknown name `{{{name}}}` in `message`: not a column of the query"),
                    nearest(name, schema.iter_names().map(|n| n.as_str())),
                ));
            }
            if !message_columns.contains(name) && !evidence.iter().any(|(e, _)| e == name) {
                message_columns.push(name.clone());
            }
        }
    }
    Ok(CompiledRule {
        pack: pack.id.clone(),
        pack_file: pack.file.clone(),
        id: rule.id.clone(),
        title: rule.title.clone(),
        view: rule.on.clone(),
        scope: None,
        check: lit(false),
        severity: rule.severity,
        severity_when: Vec::new(),
        evidence,
        message,
        keys,
        message_columns,
        param_columns: Vec::new(),
        query: Some(plan),
    })
}

/// The view columns a rule's message names that are not evidence names; an unknown name
/// is an error with the nearest column or evidence name.
fn message_columns(ctx: &Ctx, message: &[MessagePart]) -> Result<Vec<String>, PackError> {
    let (rule, schema) = (ctx.rule, ctx.schema);
    let mut message_columns = Vec::new();
    for part in message {
        if let MessagePart::Value(name) = part {
            if rule.evidence.contains_key(name) {
                continue;
            }
            if schema.get(name).is_none() {
                let candidates = schema
                    .iter_names()
                    .map(|n| n.as_str())
                    .chain(rule.evidence.keys().map(String::as_str));
                return Err(ctx.err(
                    format!("unknown name `{{{name}}}` in `message`: not a column of `{}` nor an evidence name", rule.on),
                    nearest(name, candidates),
                ));
            }
            if !message_columns.contains(name) {
                message_columns.push(name.clone());
            }
        }
    }
    Ok(message_columns)
}

/// Every expression of a rule type-checked against the view's schema before anything runs:
/// conditions are true or false, and evidence is never a float (money stays Decimal).
fn type_check(
    ctx: &Ctx,
    param_columns: &[Expr],
    check: &Expr,
    scope: Option<&Expr>,
    severity_when: &[(Expr, Severity)],
    evidence: &[(String, Expr)],
) -> Result<(), PackError> {
    let mut probes = vec![check.clone().alias("check")];
    if let Some(s) = scope {
        probes.push(s.clone().alias("where"));
    }
    for (i, (w, _)) in severity_when.iter().enumerate() {
        probes.push(w.clone().alias(format!("severity_when.{i}.when")));
    }
    for (name, e) in evidence {
        probes.push(e.clone().alias(format!("evidence.{name}")));
    }
    let types = DataFrame::empty_with_schema(ctx.schema)
        .lazy()
        .with_columns(param_columns)
        .select(probes)
        .collect_schema()
        .map_err(|e| {
            ctx.err(
                format!("does not type-check against `{}`: {e}", ctx.rule.on),
                None,
            )
        })?;
    for (name, dtype) in types.iter() {
        let boolean = !name.starts_with("evidence.");
        if boolean && !matches!(dtype, DataType::Boolean | DataType::Null) {
            return Err(ctx.err(
                format!("`{name}` must be true or false, but is {dtype}"),
                None,
            ));
        }
        if !boolean && dtype.is_float() {
            return Err(ctx.err(
                format!("`{name}` evaluates to a float ({dtype}); money must stay Decimal"),
                None,
            ));
        }
    }
    Ok(())
}

/// The parameters this rule names (by SQL token: `:tol` is not `:tol_abs`) that someone
/// overrides per broker or account: each becomes a column of the rule's view.
pub(crate) fn per_row_params(
    rule: &Rule,
    overrides: &Overrides,
    params: &BTreeMap<String, Param>,
) -> BTreeSet<String> {
    let named = rule.param_names();
    overrides
        .per_row()
        .into_iter()
        .filter(|n| params.contains_key(n) && named.contains(n))
        .collect()
}

fn compile_rule(
    pack: &Pack,
    rule: &Rule,
    views: &Views,
    overrides: &Overrides,
) -> Result<CompiledRule, PackError> {
    if let Some(sql) = &rule.query {
        return compile_query(pack, rule, sql, views, overrides);
    }
    let Some(view) = views.get(&rule.on) else {
        return Err(PackError::Rule {
            file: pack.file.clone(),
            rule: rule.id.clone(),
            message: format!("unknown view `{}` in `on`", rule.on),
            suggestion: nearest(&rule.on, views.names()),
        });
    };
    let schema = view.schema();
    let params = overrides.effective(pack);
    let per_row = per_row_params(rule, overrides, &params);
    let ctx = Ctx {
        pack,
        rule,
        schema,
        params,
        per_row,
    };
    let param_columns = if ctx.per_row.is_empty() {
        Vec::new()
    } else {
        if schema.get("broker").is_none() || schema.get("account_id").is_none() {
            return Err(ctx.err(
                format!(
                    "parameters overridden per broker or account need `broker` and `account_id` in `{}`",
                    rule.on
                ),
                None,
            ));
        }
        let accounts = account_keys(view);
        ctx.per_row
            .iter()
            .map(|name| overrides.column(name, &ctx.params[name], &accounts))
            .collect::<Result<Vec<_>, String>>()
            .map_err(|m| ctx.err(m, None))?
    };
    let scope = rule
        .scope
        .as_deref()
        .map(|s| ctx.expr("where", s))
        .transpose()?;
    let check = ctx.expr("check", &rule.check)?;
    let severity_when = rule
        .severity_when
        .iter()
        .map(|w| Ok((ctx.expr("severity_when.when", &w.when)?, w.severity)))
        .collect::<Result<Vec<_>, PackError>>()?;
    let evidence = rule
        .evidence
        .iter()
        .map(|(name, sql)| Ok((name.clone(), ctx.expr(&format!("evidence.{name}"), sql)?)))
        .collect::<Result<Vec<_>, PackError>>()?;

    let message = parse_message(&rule.message);
    let message_columns = message_columns(&ctx, &message)?;

    type_check(
        &ctx,
        &param_columns,
        &check,
        scope.as_ref(),
        &severity_when,
        &evidence,
    )?;

    Ok(CompiledRule {
        pack: pack.id.clone(),
        pack_file: pack.file.clone(),
        id: rule.id.clone(),
        title: rule.title.clone(),
        view: rule.on.clone(),
        scope,
        check,
        severity: rule.severity,
        severity_when,
        evidence,
        message,
        keys: KEY_COLUMNS
            .into_iter()
            .filter(|k| schema.get(k).is_some())
            .collect(),
        message_columns,
        param_columns,
        query: None,
    })
}

impl std::fmt::Debug for CompiledRule {
    // LazyFrame has no Debug: name the rule and what it runs on.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledRule")
            .field("pack", &self.pack)
            .field("id", &self.id)
            .field("view", &self.view)
            .field("query", &self.query.is_some())
            .finish_non_exhaustive()
    }
}

/// The (broker, account_id) pairs of a view.
fn account_keys(view: &DataFrame) -> BTreeSet<(String, String)> {
    let (Ok(b), Ok(a)) = (view.column("broker"), view.column("account_id")) else {
        return BTreeSet::new();
    };
    let (Ok(b), Ok(a)) = (b.str(), a.str()) else {
        return BTreeSet::new();
    };
    b.iter()
        .zip(a.iter())
        .filter_map(|(b, a)| Some((b?.to_string(), a?.to_string())))
        .collect()
}

/// Compiles every rule of every pack against the views, refusing the first bad one.
pub fn compile(packs: &[Pack], views: &Views) -> Result<Vec<CompiledRule>, PackError> {
    compile_with(packs, views, &Overrides::default())
}

/// `compile`, with parameter overrides from config.
pub fn compile_with(
    packs: &[Pack],
    views: &Views,
    overrides: &Overrides,
) -> Result<Vec<CompiledRule>, PackError> {
    check_unique_ids(packs)?;
    packs
        .iter()
        .flat_map(|p| p.rules.iter().map(move |r| (p, r)))
        .map(|(p, r)| compile_rule(p, r, views, overrides))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_placeholders() {
        assert_eq!(
            parse_message("net liq {net_liq} off by {difference}!"),
            vec![
                MessagePart::Text("net liq ".into()),
                MessagePart::Value("net_liq".into()),
                MessagePart::Text(" off by ".into()),
                MessagePart::Value("difference".into()),
                MessagePart::Text("!".into()),
            ]
        );
        assert_eq!(
            parse_message("a {not a name} {}"),
            vec![MessagePart::Text("a {not a name} {}".into())]
        );
    }
}
