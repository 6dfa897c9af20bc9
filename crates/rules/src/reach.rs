//! Whether a rule reads one account at a time (DESIGN.md "Scale"). A check runs in chunks of
//! accounts, and a rule gives the same findings chunk by chunk only if no result row mixes
//! accounts. This is proved from the rule's SQL (sqlparser, the parser polars' SQL uses), and
//! anything not proved counts as reading across accounts, so the run reads the book whole:
//!
//! - a row rule (`check`, `where`, `severity_when`, `evidence`) with no aggregate, no window
//!   and no subquery is per row;
//! - a `query` rule is per account when every GROUP BY and window PARTITION BY has `broker`
//!   and `account_id`, every JOIN is ON equal `broker` and equal `account_id` (or USING
//!   both), no SELECT aggregates without a GROUP BY, and there is no LIMIT, no subquery in an
//!   expression and no list of tables in FROM.

use crate::pack::{Pack, Rule};
use sqlparser::ast::{
    Expr, GroupByExpr, JoinConstraint, JoinOperator, Query, SetExpr, Visit, Visitor, WindowType,
    visit_expressions,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use std::ops::ControlFlow;

/// The first rule of `packs` that reads across accounts, and why, if one does.
pub fn whole_book_rule(packs: &[Pack]) -> Option<String> {
    packs.iter().find_map(|p| {
        p.rules.iter().find_map(|r| {
            across_accounts(r).map(|why| format!("rule `{}` ({}): {why}", r.id, p.id))
        })
    })
}

/// Why `rule` may read across accounts; `None` when it is proved per account. SQL that does
/// not parse is left to the compiler, which refuses it by name.
pub fn across_accounts(rule: &Rule) -> Option<String> {
    match &rule.query {
        Some(sql) => {
            let statements = Parser::parse_sql(&GenericDialect {}, sql).ok()?;
            let mut reach = Reach;
            match statements.visit(&mut reach) {
                ControlFlow::Break(why) => Some(why),
                ControlFlow::Continue(()) => None,
            }
        }
        None => {
            let mut texts: Vec<&str> = vec![&rule.check];
            texts.extend(rule.scope.as_deref());
            texts.extend(rule.severity_when.iter().map(|w| w.when.as_str()));
            texts.extend(rule.evidence.values().map(String::as_str));
            texts.into_iter().find_map(|text| {
                let expr = Parser::new(&GenericDialect {})
                    .try_with_sql(text)
                    .and_then(|mut p| p.parse_expr())
                    .ok()?;
                per_row(&expr).err()
            })
        }
    }
}

/// A row expression: no aggregate, no subquery, and windows only per account.
fn per_row(expr: &Expr) -> Result<(), String> {
    match visit_expressions(expr, |e| match e {
        Expr::Function(f) if f.over.is_none() && is_aggregate(&f.name.to_string()) => {
            ControlFlow::Break(format!("`{}` aggregates across rows", f.name))
        }
        _ => one_account_expr(e),
    }) {
        ControlFlow::Break(why) => Err(why),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Windows must be per account; subqueries are not proved.
fn one_account_expr(e: &Expr) -> ControlFlow<String> {
    match e {
        Expr::Function(f) => match &f.over {
            Some(WindowType::WindowSpec(spec)) if names_account(&spec.partition_by) => {
                ControlFlow::Continue(())
            }
            Some(_) => ControlFlow::Break(format!(
                "the window of `{}` is not PARTITION BY broker, account_id",
                f.name
            )),
            None => ControlFlow::Continue(()),
        },
        Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. } => {
            ControlFlow::Break("a subquery in an expression".into())
        }
        _ => ControlFlow::Continue(()),
    }
}

struct Reach;

impl Visitor for Reach {
    type Break = String;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        if query.limit_clause.is_some() || query.fetch.is_some() {
            return ControlFlow::Break("LIMIT picks rows of the whole book".into());
        }
        if let SetExpr::Select(select) = query.body.as_ref() {
            if select.from.len() > 1 {
                return ControlFlow::Break("a list of tables in FROM".into());
            }
            for join in select.from.iter().flat_map(|t| &t.joins) {
                if !joins_on_account(&join.join_operator) {
                    return ControlFlow::Break("a JOIN not ON equal broker and account_id".into());
                }
            }
            match &select.group_by {
                GroupByExpr::Expressions(exprs, _) if !exprs.is_empty() => {
                    if !names_account(exprs) {
                        return ControlFlow::Break("GROUP BY without broker and account_id".into());
                    }
                }
                GroupByExpr::Expressions(..) => {
                    let aggregate = visit_expressions(&select.projection, |e| match e {
                        Expr::Function(f)
                            if f.over.is_none() && is_aggregate(&f.name.to_string()) =>
                        {
                            ControlFlow::Break(())
                        }
                        _ => ControlFlow::Continue(()),
                    });
                    if aggregate.is_break() || select.having.is_some() {
                        return ControlFlow::Break("an aggregate without GROUP BY".into());
                    }
                }
                GroupByExpr::All(_) => return ControlFlow::Break("GROUP BY ALL".into()),
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
        one_account_expr(expr)
    }
}

fn joins_on_account(op: &JoinOperator) -> bool {
    use JoinOperator::*;
    let constraint = match op {
        Join(c) | Inner(c) | Left(c) | LeftOuter(c) | Right(c) | RightOuter(c) | FullOuter(c)
        | Semi(c) | LeftSemi(c) | RightSemi(c) | Anti(c) | LeftAnti(c) | RightAnti(c)
        | StraightJoin(c) => c,
        AsOf { constraint, .. } => constraint,
        _ => return false,
    };
    match constraint {
        JoinConstraint::On(on) => {
            let mut equal = Vec::new();
            equalities(on, &mut equal);
            ["broker", "account_id"]
                .iter()
                .all(|k| equal.iter().any(|(a, b)| a == k && b == k))
        }
        JoinConstraint::Using(columns) => {
            let names: Vec<String> = columns
                .iter()
                .map(|c| {
                    c.to_string()
                        .rsplit('.')
                        .next()
                        .unwrap_or("")
                        .to_lowercase()
                })
                .collect();
            ["broker", "account_id"]
                .iter()
                .all(|k| names.iter().any(|n| n == k))
        }
        _ => false,
    }
}

/// The `a = b` column pairs of the top-level ANDs of `on`.
fn equalities(on: &Expr, out: &mut Vec<(String, String)>) {
    use sqlparser::ast::BinaryOperator::{And, Eq};
    match on {
        Expr::BinaryOp {
            left,
            op: And,
            right,
        } => {
            equalities(left, out);
            equalities(right, out);
        }
        Expr::BinaryOp {
            left,
            op: Eq,
            right,
        } => {
            if let (Some(a), Some(b)) = (column(left), column(right)) {
                out.push((a, b));
            }
        }
        Expr::Nested(e) => equalities(e, out),
        _ => {}
    }
}

/// The column an expression names (the last part of `p.broker`), lowercased.
fn column(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(i.value.to_lowercase()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.to_lowercase()),
        Expr::Nested(e) => column(e),
        _ => None,
    }
}

fn names_account(exprs: &[Expr]) -> bool {
    let names: Vec<String> = exprs.iter().filter_map(column).collect();
    ["broker", "account_id"]
        .iter()
        .all(|k| names.iter().any(|n| n == k))
}

fn is_aggregate(name: &str) -> bool {
    let name = name.rsplit('.').next().unwrap_or(name).to_lowercase();
    matches!(
        name.as_str(),
        "sum"
            | "count"
            | "avg"
            | "mean"
            | "min"
            | "max"
            | "median"
            | "first"
            | "last"
            | "stddev"
            | "stddev_samp"
            | "stddev_pop"
            | "variance"
            | "var_samp"
            | "var_pop"
            | "array_agg"
            | "string_agg"
            | "quantile_cont"
            | "quantile_disc"
            | "covar"
            | "corr"
            | "bool_and"
            | "bool_or"
            | "any_value"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_rule(sql: &str) -> Rule {
        let pack = format!(
            "[pack]\nid = \"t\"\nversion = \"1\"\n[[rule]]\nid = \"r\"\ntitle = \"t\"\nseverity = \"error\"\nquery = \"\"\"\n{sql}\n\"\"\"\nmessage = \"m\"\n"
        );
        crate::parse_pack(&pack, "t.toml").unwrap().rules.remove(0)
    }

    fn row_rule(check: &str) -> Rule {
        let pack = format!(
            "[pack]\nid = \"t\"\nversion = \"1\"\n[[rule]]\nid = \"r\"\ntitle = \"t\"\nseverity = \"error\"\non = \"position_view\"\ncheck = \"{check}\"\nmessage = \"m\"\n"
        );
        crate::parse_pack(&pack, "t.toml").unwrap().rules.remove(0)
    }

    #[test]
    fn every_shipped_rule_is_per_account() {
        for id in ["core", "risk", "data-quality", "books"] {
            let pack = crate::pack::builtin_pack(id).unwrap().unwrap();
            assert_eq!(whole_book_rule(&[pack]), None, "{id}");
        }
    }

    #[test]
    fn grouping_or_joining_past_the_account_reads_the_whole_book() {
        let across = |sql: &str| across_accounts(&query_rule(sql));
        assert_eq!(
            across(
                "SELECT broker, account_id, COUNT(*) AS n FROM positions GROUP BY broker, account_id HAVING COUNT(*) > 1"
            ),
            None
        );
        assert_eq!(
            across(
                "SELECT p.broker, p.account_id FROM position_view p JOIN account_view a ON p.broker = a.broker AND p.account_id = a.account_id"
            ),
            None
        );
        for sql in [
            "SELECT symbol, COUNT(*) AS n FROM positions GROUP BY symbol",
            "SELECT COUNT(*) AS n FROM positions",
            "SELECT p.broker FROM positions p JOIN accounts a ON p.broker = a.broker",
            "SELECT broker, account_id FROM positions ORDER BY quantity LIMIT 10",
            "SELECT broker, account_id, SUM(quantity) OVER (PARTITION BY symbol) AS s FROM positions",
            "SELECT broker, account_id FROM positions WHERE symbol IN (SELECT symbol FROM pnl)",
            "SELECT p.broker FROM positions p, accounts a",
        ] {
            assert!(across(sql).is_some(), "{sql}");
        }
    }

    #[test]
    fn a_row_rule_with_an_aggregate_or_window_reads_the_whole_book() {
        assert_eq!(across_accounts(&row_rule("quantity <> 0")), None);
        assert_eq!(
            across_accounts(&row_rule(
                "quantity < SUM(quantity) OVER (PARTITION BY broker, account_id)"
            )),
            None
        );
        assert!(across_accounts(&row_rule("quantity < AVG(quantity) OVER ()")).is_some());
        assert!(across_accounts(&row_rule("quantity < MAX(quantity)")).is_some());
    }
}
