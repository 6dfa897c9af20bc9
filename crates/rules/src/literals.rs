//! Makes rule SQL exact before polars sees it. polars' SQL parser reads any literal with a
//! `.` as f64, and Decimal compared with f64 becomes an f64 comparison (STACK.md §1.1), so
//! `0.001` and every Decimal `:param` are rewritten to `CAST('…' AS DECIMAL(38, s + 8))`
//! (`decimal_literal` says why the 8).
//! Working on sqlparser's tokens (the tokenizer polars-sql itself uses) means strings,
//! identifiers and comments are never touched by mistake.

use crate::pack::{Param, nearest};
use rust_decimal::Decimal;
use sqlparser::dialect::GenericDialect;
use sqlparser::tokenizer::{Token, Tokenizer};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

/// The largest scale a rule literal may have (the frames' scale).
const MAX_SCALE: u32 = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewriteError {
    Syntax(String),
    UnknownParam {
        name: String,
        suggestion: Option<String>,
    },
    BadLiteral(String),
}

/// The frames' scale (`Decimal(38, 8)`).
const FRAME_SCALE: u32 = 8;

/// A Decimal literal polars keeps exact, alone and in a product with a frame column.
/// polars multiplies two decimals at the larger of their two scales and rounds the rest
/// away (`0.001 × 1,639,289.653344` came out `1639.28965334`, where Spark gave the exact
/// `1639.289653344`), so a literal with `s` decimals is typed with `s + 8`: its product with
/// an amount keeps every digit.
pub fn decimal_literal(d: Decimal) -> String {
    let scale = d.scale().min(MAX_SCALE) + FRAME_SCALE;
    format!("CAST('{d}' AS DECIMAL(38, {scale}))")
}

/// A Decimal literal typed with just the digits it has (`5.00` is `DECIMAL(3, 2)`), for
/// Spark: there a `DECIMAL(38, s)` operand leaves no room for integral digits, and Spark 4
/// then drops fraction digits from the other side of a `greatest` or a comparison.
pub fn narrow_decimal_literal(d: Decimal) -> String {
    let scale = d.scale().min(MAX_SCALE);
    let digits = d
        .mantissa()
        .unsigned_abs()
        .checked_ilog10()
        .map_or(1, |l| l + 1);
    let precision = digits.max(scale + 1).min(38);
    format!("CAST('{d}' AS DECIMAL({precision}, {scale}))")
}

/// A SQL string literal of `text`.
pub fn text_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Rewrites numeric literals and `:params` in one SQL expression. A parameter named in
/// `per_row` becomes a reference to its column (`params::column_name`) instead of a literal.
pub fn rewrite(
    sql: &str,
    params: &BTreeMap<String, Param>,
    per_row: &BTreeSet<String>,
) -> Result<String, RewriteError> {
    let columns = per_row
        .iter()
        .map(|name| (name.clone(), crate::params::column_name(name)))
        .collect();
    rewrite_with(sql, params, &columns, decimal_literal)
}

/// `rewrite`, each decimal written by `literal` (`narrow_decimal_literal` for Spark), and
/// each parameter in `per_row` replaced by its SQL there (a column, or the expression that
/// picks the row's value).
pub fn rewrite_with(
    sql: &str,
    params: &BTreeMap<String, Param>,
    per_row: &BTreeMap<String, String>,
    decimal_literal: fn(Decimal) -> String,
) -> Result<String, RewriteError> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize()
        .map_err(|e| RewriteError::Syntax(e.to_string()))?;
    let mut out = String::with_capacity(sql.len() + 32);
    let mut iter = tokens.iter().peekable();
    while let Some(token) = iter.next() {
        match token {
            Token::Number(text, _) if text.contains(['.', 'e', 'E']) => {
                let d = if text.contains(['e', 'E']) {
                    Decimal::from_scientific(text)
                } else {
                    Decimal::from_str(text)
                }
                .map_err(|_| RewriteError::BadLiteral(text.clone()))?;
                if d.scale() > MAX_SCALE {
                    return Err(RewriteError::BadLiteral(format!(
                        "{text} has more than {MAX_SCALE} decimals"
                    )));
                }
                out.push_str(&decimal_literal(d));
            }
            Token::Colon => match iter.peek() {
                Some(Token::Word(w)) if w.quote_style.is_none() => {
                    let name = w.value.clone();
                    iter.next();
                    if let Some(sql) = per_row.get(&name).filter(|_| params.contains_key(&name)) {
                        out.push_str(sql);
                        continue;
                    }
                    let value = params
                        .get(&name)
                        .ok_or_else(|| RewriteError::UnknownParam {
                            suggestion: nearest(&name, params.keys().map(String::as_str)),
                            name: name.clone(),
                        })?;
                    match value {
                        Param::Decimal(d) => out.push_str(&decimal_literal(*d)),
                        Param::Integer(i) | Param::Duration(i) => out.push_str(&i.to_string()),
                        Param::Text(s) => out.push_str(&text_literal(s)),
                    }
                }
                _ => out.push(':'),
            },
            other => out.push_str(&other.to_string()),
        }
    }
    Ok(out)
}

/// The `:params` an expression names, for validation without rewriting.
pub fn param_names(sql: &str) -> Vec<String> {
    let dialect = GenericDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize() else {
        return Vec::new();
    };
    tokens
        .windows(2)
        .filter_map(|w| match (&w[0], &w[1]) {
            (Token::Colon, Token::Word(word)) => Some(word.value.clone()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> BTreeMap<String, Param> {
        BTreeMap::from([
            (
                "tol".to_string(),
                Param::Decimal(Decimal::from_str("5.00").unwrap()),
            ),
            ("days".to_string(), Param::Integer(7)),
            ("kind".to_string(), Param::Text("o'brien".into())),
        ])
    }

    #[test]
    fn literals_and_params_become_exact_decimals() {
        let out = rewrite(
            "abs(x - y) <= greatest(:tol, 0.001 * abs(x))",
            &params(),
            &BTreeSet::new(),
        )
        .unwrap();
        assert_eq!(
            out,
            "abs(x - y) <= greatest(CAST('5.00' AS DECIMAL(38, 10)), CAST('0.001' AS DECIMAL(38, 11)) * abs(x))"
        );
    }

    #[test]
    fn integers_strings_and_quoted_text_are_left_alone() {
        let out = rewrite(
            "days <= :days AND kind = :kind AND note = '0.5' AND n > 3",
            &params(),
            &BTreeSet::new(),
        )
        .unwrap();
        assert_eq!(
            out,
            "days <= 7 AND kind = 'o''brien' AND note = '0.5' AND n > 3"
        );
    }

    #[test]
    fn unknown_params_are_named_with_a_suggestion() {
        let err = rewrite("x <= :tool", &params(), &BTreeSet::new()).unwrap_err();
        assert_eq!(
            err,
            RewriteError::UnknownParam {
                name: "tool".into(),
                suggestion: Some("tol".into())
            }
        );
    }

    #[test]
    fn per_row_params_become_columns() {
        let per_row = BTreeSet::from(["tol".to_string()]);
        let out = rewrite("x <= :tol AND d < :days", &params(), &per_row).unwrap();
        assert_eq!(out, "x <= __param_tol AND d < 7");
    }

    #[test]
    fn scientific_literals_are_exact_too() {
        let out = rewrite("x > 1e-3", &params(), &BTreeSet::new()).unwrap();
        assert_eq!(out, "x > CAST('0.001' AS DECIMAL(38, 11))");
    }
}
