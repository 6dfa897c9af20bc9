//! Rules and views as SQL text for an engine other than polars (Spark SQL, through
//! `recon-spark`), so the same packs run where the frames are too big for one machine.
//!
//! A rule becomes two statements that return exactly the frames `evaluate` makes locally:
//! the status counts (`__status`, `__n`) and the failing or unknown rows (`__status`,
//! `__severity`, `__key_*`, `__col_*`, `__ev_*`), so the findings are rendered by the same
//! code either way. The rule's own SQL is used as written, after the same exact-literal
//! rewrite as locally (`literals`): a decimal literal or parameter is
//! `CAST('0.001' AS DECIMAL(38, 3))`, which Spark keeps exact too. Rules are compiled
//! locally first (against empty views of the canonical schema), so a pack is refused for
//! the same reasons, with the same messages, on both engines.
//!
//! The views (`position_view`, `pnl_view`, `pnl_orphans`, `account_view`) are written here
//! as SQL over the frames. The P&L match (`recon_model::pnl_match`: position id, then
//! symbol, then the option's root; each P&L row taken once, in row order) is set-based:
//! each pass ranks the still-unmatched positions and the still-untaken P&L rows per key in
//! row order, and the k-th of one takes the k-th of the other — what the greedy loop does.
//! `tests` in the binary check both engines give the same findings; this module's own
//! tests check the SQL shape.

use crate::compile::{CompiledRule, per_row_params};
use crate::literals::{narrow_decimal_literal, rewrite_with};
use crate::pack::Pack;
use crate::params::Overrides;
use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet};

/// The views defined below, in the order they must be created.
pub const VIEWS: [&str; 5] = [
    "position_pnl_match",
    "position_view",
    "pnl_view",
    "pnl_orphans",
    "account_view",
];

/// The frames the views are built from, by the names rules use.
pub use recon_frames::frames::FRAME_NAMES as FRAMES;

/// The column every exported positions and P&L row carries: its place in the frame, which
/// the P&L match goes by ("the first untaken row").
pub const ROW_NUMBER: &str = "row_no";

/// The frames with their row numbers, for the views: `__<frame>_rows`.
pub fn rows_view(frame: &str) -> String {
    format!("__{frame}_rows")
}

/// Each frame's columns, in the canonical order (`recon_frames::Frames`), each with
/// whether it is money (`Decimal(38, 8)` in the frames).
pub type FrameColumns = BTreeMap<&'static str, Vec<(String, bool)>>;

/// The type money has in the engine's views: 20 integral digits (far above any account) and
/// the frames' 8 decimals. Not the frames' `DECIMAL(38, 8)`: under Spark's decimal rules an
/// operand with 38 digits leaves a product or a comparison no room, and Spark 4 then drops
/// fraction digits (a tolerance `greatest(5.00, 0.001 × net liq)` came back rounded to
/// cents). With 28 digits every product and comparison of the shipped packs keeps all its
/// decimals; an amount of 10^20 or more is null there, so its rules say `unknown`.
pub const MONEY: &str = "DECIMAL(28, 8)";

/// `CREATE TEMPORARY VIEW` statements that name the exported frames under `root` (a folder
/// or URI the engine reads, one Parquet dataset per frame, partitioned hive-style by
/// `broker` and `chunk`): each frame by its own name with exactly its canonical columns,
/// and positions and P&L with their row numbers as `__<frame>_rows`.
pub fn frame_statements(root: &str, columns: &FrameColumns) -> Vec<(String, String)> {
    let root = root
        .trim_end_matches('/')
        .replace('\\', "\\\\")
        .replace('\'', "\\'");
    let mut out = Vec::new();
    for (frame, cols) in columns {
        let files = format!("__{frame}_files");
        out.push((
            files.clone(),
            format!("CREATE OR REPLACE TEMPORARY VIEW {files} USING parquet OPTIONS (path '{root}/{frame}')"),
        ));
        let list = cols
            .iter()
            .map(|(c, money)| match money {
                true => format!("CAST({} AS {MONEY}) AS {}", quoted(c), quoted(c)),
                false => quoted(c),
            })
            .collect::<Vec<_>>()
            .join(", ");
        out.push((
            frame.to_string(),
            format!("CREATE OR REPLACE TEMPORARY VIEW {frame} AS SELECT {list} FROM {files}"),
        ));
        if ["positions", "pnl"].contains(frame) {
            let rows = rows_view(frame);
            out.push((
                rows.clone(),
                format!("CREATE OR REPLACE TEMPORARY VIEW {rows} AS SELECT {list}, {ROW_NUMBER} FROM {files}"),
            ));
        }
    }
    out
}

/// `CREATE TEMPORARY VIEW` statements for the views, in order.
pub fn view_statements(as_of: NaiveDate, columns: &FrameColumns) -> Vec<(&'static str, String)> {
    view_definitions(as_of, columns)
        .into_iter()
        .map(|(name, body)| {
            (
                name,
                format!("CREATE OR REPLACE TEMPORARY VIEW {name} AS\n{body}"),
            )
        })
        .collect()
}

/// Each view's `SELECT`, in the order they must be defined. `as_of` is the business date
/// (days to expiry count from it; ages count to its end, 24:00 UTC).
pub fn view_definitions(as_of: NaiveDate, columns: &FrameColumns) -> Vec<(&'static str, String)> {
    let end_of_day = crate::views::end_of_day_micros(as_of);
    vec![
        ("position_pnl_match", pnl_match_sql()),
        (
            "position_view",
            position_view_sql(as_of, end_of_day, columns),
        ),
        ("pnl_view", pnl_view_sql(columns)),
        (
            "pnl_orphans",
            "SELECT * FROM pnl_view
WHERE matched = false AND (exposure IS NULL OR exposure <> 0)"
                .to_string(),
        ),
        ("account_view", account_view_sql(end_of_day, columns)),
    ]
}

/// `frame`'s columns as `table.column`, but those in `except`.
fn columns_sql(columns: &FrameColumns, frame: &str, table: &str, except: &[&str]) -> String {
    columns
        .get(frame)
        .map(|cols| {
            cols.iter()
                .filter(|(c, _)| !except.contains(&c.as_str()))
                .map(|(c, _)| format!("{table}.{}", quoted(c)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Seconds from `updated_at` to the day's end, as `views::updated_age` (integer division).
fn age_sql(end_of_day: i64, table: &str) -> String {
    format!("div({end_of_day} - unix_micros(CAST({table}.updated_at AS TIMESTAMP)), 1000000)")
}

/// The same broker and account on both sides.
fn on(a: &str, b: &str) -> String {
    format!("{a}.broker = {b}.broker AND {a}.account_id = {b}.account_id")
}

/// The row's place among its account's rows with the same `key`, in snapshot order.
fn rank(table: &str, key: &str) -> String {
    format!(
        "ROW_NUMBER() OVER (PARTITION BY {table}.broker, {table}.account_id, {key} ORDER BY {table}.row_no)"
    )
}

/// The P&L match (`views::position_pnl_match`) as sets: by position id, then by symbol,
/// then by the position's underlying against the P&L row's symbol; the n-th lot of a key
/// takes the n-th row of it, so a row matches one lot at most.
fn pnl_match_sql() -> String {
    let positions = rows_view("positions");
    let pnl = rows_view("pnl");
    format!(
        "WITH
id_pos AS (SELECT p.broker, p.account_id, p.row_no, p.position_id, {rank_pid_p} AS k
           FROM {positions} p WHERE p.position_id IS NOT NULL AND p.position_id <> ''),
id_pnl AS (SELECT l.broker, l.account_id, l.row_no, l.position_id, {rank_pid_l} AS k
           FROM {pnl} l WHERE l.position_id IS NOT NULL AND l.position_id <> ''),
by_id AS (SELECT p.broker, p.account_id, p.row_no AS position_row, l.row_no AS pnl_row,
                 'position_id' AS how
          FROM id_pos p JOIN id_pnl l ON {on_pl} AND p.position_id = l.position_id AND p.k = l.k),
left_pos AS (SELECT p.broker, p.account_id, p.row_no,
                    coalesce(p.symbol, '') AS symbol, coalesce(p.underlying, '') AS underlying
             FROM {positions} p LEFT ANTI JOIN by_id m ON {on_pm} AND p.row_no = m.position_row),
left_pnl AS (SELECT l.broker, l.account_id, l.row_no, coalesce(l.symbol, '') AS symbol
             FROM {pnl} l LEFT ANTI JOIN by_id m ON {on_lm} AND l.row_no = m.pnl_row),
sym_pos AS (SELECT p.*, {rank_sym_p} AS k FROM left_pos p),
sym_pnl AS (SELECT l.*, {rank_sym_l} AS k FROM left_pnl l),
by_symbol AS (SELECT p.broker, p.account_id, p.row_no AS position_row, l.row_no AS pnl_row,
                     'symbol' AS how
              FROM sym_pos p JOIN sym_pnl l ON {on_pl} AND p.symbol = l.symbol AND p.k = l.k),
root_pos AS (SELECT p.broker, p.account_id, p.row_no, p.underlying, {rank_root_p} AS k
             FROM left_pos p LEFT ANTI JOIN by_symbol m ON {on_pm} AND p.row_no = m.position_row
             WHERE p.underlying <> p.symbol),
root_pnl AS (SELECT l.broker, l.account_id, l.row_no, l.symbol, {rank_sym_l} AS k
             FROM left_pnl l LEFT ANTI JOIN by_symbol m ON {on_lm} AND l.row_no = m.pnl_row),
by_root AS (SELECT p.broker, p.account_id, p.row_no AS position_row, l.row_no AS pnl_row,
                   'symbol' AS how
            FROM root_pos p JOIN root_pnl l ON {on_pl} AND p.underlying = l.symbol AND p.k = l.k)
SELECT * FROM by_id UNION ALL SELECT * FROM by_symbol UNION ALL SELECT * FROM by_root",
        rank_pid_p = rank("p", "p.position_id"),
        rank_pid_l = rank("l", "l.position_id"),
        rank_sym_p = rank("p", "p.symbol"),
        rank_sym_l = rank("l", "l.symbol"),
        rank_root_p = rank("p", "p.underlying"),
        on_pl = on("p", "l"),
        on_pm = on("p", "m"),
        on_lm = on("l", "m"),
    )
}

fn position_view_sql(as_of: NaiveDate, end_of_day: i64, columns: &FrameColumns) -> String {
    let positions = rows_view("positions");
    let pnl = rows_view("pnl");
    format!(
        "SELECT {positions_columns},
       l.exposure AS pnl_exposure, l.realized_pnl AS pnl_realized_pnl,
       l.unrealized_pnl AS pnl_unrealized_pnl, l.day_realized_pnl AS pnl_day_realized_pnl,
       l.day_unrealized_pnl AS pnl_day_unrealized_pnl,
       CASE WHEN coalesce(m.how, 'none') <> 'none' OR a.data_complete = true
            THEN coalesce(m.how, 'none') END AS pnl_match,
       a.account_kind, a.is_paper, a.status AS account_status, a.options_level, a.data_complete,
       datediff(p.expires_at, DATE'{as_of}') AS days_to_expiry,
       {age_p} AS updated_age
FROM {positions} p
LEFT JOIN position_pnl_match m ON {on_pm} AND p.row_no = m.position_row
LEFT JOIN {pnl} l ON {on_lm} AND l.row_no = m.pnl_row
LEFT JOIN accounts a ON {on_pa}",
        positions_columns = columns_sql(columns, "positions", "p", &[]),
        age_p = age_sql(end_of_day, "p"),
        on_pm = on("p", "m"),
        on_lm = on("l", "m"),
        on_pa = on("p", "a"),
    )
}

fn pnl_view_sql(columns: &FrameColumns) -> String {
    let pnl = rows_view("pnl");
    format!(
        "SELECT {pnl_columns}, a.data_complete,
       CASE WHEN m.pnl_row IS NOT NULL THEN true WHEN a.data_complete = true THEN false END AS matched
FROM {pnl} l
LEFT JOIN position_pnl_match m ON {on_lm} AND l.row_no = m.pnl_row
LEFT JOIN accounts a ON {on_la}",
        pnl_columns = columns_sql(columns, "pnl", "l", &[]),
        on_lm = on("l", "m"),
        on_la = on("l", "a"),
    )
}

fn account_view_sql(end_of_day: i64, columns: &FrameColumns) -> String {
    let zero = format!("CAST(0 AS {MONEY})");
    format!(
        "SELECT {account_columns}, {balance_columns},
       CASE WHEN NOT a.data_complete THEN CAST(NULL AS {MONEY})
            WHEN ps.position_count IS NULL THEN {zero}
            WHEN ps.unvalued_count > 0 THEN CAST(NULL AS {MONEY})
            ELSE ps.value_sum END AS position_value,
       coalesce(ps.position_count, 0) AS position_count,
       coalesce(ps.unvalued_count, 0) AS unvalued_count,
       coalesce(ps.gross_exposure, {zero}) AS gross_exposure,
       coalesce(ls.pnl_row_count, 0) AS pnl_row_count,
       coalesce(ls.pnl_exposure, {zero}) AS pnl_exposure,
       {age_b} AS updated_age
FROM accounts a
LEFT JOIN (SELECT * FROM balances WHERE currency = 'USD') b ON {on_ab}
LEFT JOIN (SELECT broker, account_id, count(*) AS position_count,
                  CAST(sum(net_liq_value) AS {MONEY}) AS value_sum,
                  count(*) - count(net_liq_value) AS unvalued_count,
                  CAST(sum(abs(market_value)) AS {MONEY}) AS gross_exposure
           FROM positions GROUP BY broker, account_id) ps ON {on_aps}
LEFT JOIN (SELECT broker, account_id, count(*) AS pnl_row_count, CAST(sum(exposure) AS {MONEY}) AS pnl_exposure
           FROM pnl GROUP BY broker, account_id) ls ON {on_als}",
        account_columns = columns_sql(columns, "accounts", "a", &[]),
        balance_columns = columns_sql(columns, "balances", "b", &["broker", "account_id"]),
        age_b = age_sql(end_of_day, "b"),
        on_ab = on("a", "b"),
        on_aps = on("a", "ps"),
        on_als = on("a", "ls"),
    )
}

/// A rule as the two statements of its counts and its failing rows.
#[derive(Debug, Clone)]
pub struct RuleStatements {
    pub counts: String,
    pub rows: String,
    /// What a row rule's statements are made of, so that every rule on one view can be
    /// counted, and its failing rows taken, in one scan (`stacked_counts`,
    /// `stacked_rows`); `None` for a query rule.
    pub row_rule: Option<RowRule>,
}

/// A row rule's view, status expression and result columns besides `__status`, as
/// (SQL, name): what its `rows` statement selects.
#[derive(Debug, Clone)]
pub struct RowRule {
    pub view: String,
    pub status: String,
    pub columns: Vec<(String, String)>,
}

/// The counts of several row rules on one view in one scan: each row becomes one row per
/// rule (`stack`), counted by rule and status. `rules`: each rule's place and its parts.
/// The result has `__rule`, `__status` and `__n`.
pub fn stacked_counts(view: &str, rules: &[(usize, &RowRule)]) -> String {
    let pairs = rules
        .iter()
        .map(|(place, rule)| format!("{place}, {}", rule.status))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT __rule, __status, count(*) AS __n FROM (SELECT stack({}, {pairs}) AS (__rule, __status) FROM {}) t GROUP BY __rule, __status",
        rules.len(),
        quoted(view)
    )
}

/// The failing and unknown rows of several row rules on one view in one scan. Rule `k`'s
/// columns come back as `__r<k>__<name>` and its status as `__r<k>__status`; a row is
/// returned when any of the rules fails or cannot tell on it (the engine reads each rule's
/// rows back by its own status).
pub fn stacked_rows(view: &str, rules: &[(usize, &RowRule)]) -> String {
    let mut select = Vec::new();
    let mut any = Vec::new();
    for (place, rule) in rules {
        let status_name = stacked_name(*place, "__status");
        select.push(aliased(&rule.status, &status_name));
        any.push(format!("{} IN ('fail', 'unknown')", quoted(&status_name)));
        for (sql, name) in &rule.columns {
            select.push(aliased(sql, &stacked_name(*place, name)));
        }
    }
    format!(
        "SELECT * FROM (SELECT {} FROM {}) t WHERE {}",
        select.join(", "),
        quoted(view),
        any.join(" OR ")
    )
}

/// A rule's result column in `stacked_rows`.
pub fn stacked_name(place: usize, name: &str) -> String {
    format!("__r{place}{name}")
}

/// `(sql) AS name`.
fn aliased(sql: &str, name: &str) -> String {
    format!("({sql}) AS {}", quoted(name))
}

/// Why a rule cannot run on another engine, before anything runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPortable {
    pub pack: String,
    pub rule: String,
    pub reason: String,
}

impl std::fmt::Display for NotPortable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rule `{}` (pack `{}`): {}",
            self.rule, self.pack, self.reason
        )
    }
}

/// The views and frames another engine has: the frames, the views above, and with a book
/// of record its frames (exported whole: `views::BOOK_FRAMES`).
pub fn engine_relations(books: bool) -> BTreeSet<&'static str> {
    let book_frames = crate::views::BOOK_FRAMES.iter().filter(|_| books);
    FRAMES
        .iter()
        .chain(VIEWS.iter())
        .chain(book_frames)
        .copied()
        .collect()
}

/// Each compiled rule's statements, or the first rule that cannot run elsewhere and why:
/// a rule on a relation the engine does not have (`relations`: a book's frames only when
/// the export carries a book). A parameter overridden per broker or account becomes a `CASE` on the row's broker
/// and account (`Overrides::sql_value`), the choice polars makes with a per-row column.
pub fn rule_statements(
    packs: &[Pack],
    compiled: &[CompiledRule],
    overrides: &Overrides,
    relations: &BTreeSet<&'static str>,
) -> Result<Vec<RuleStatements>, NotPortable> {
    let mut out = Vec::with_capacity(compiled.len());
    for rule in compiled {
        let pack = packs
            .iter()
            .find(|p| p.id == rule.pack)
            .expect("compiled from these packs");
        let source = pack
            .rules
            .iter()
            .find(|r| r.id == rule.id)
            .expect("compiled from this pack");
        let refuse = |reason: String| NotPortable {
            pack: rule.pack.clone(),
            rule: rule.id.clone(),
            reason,
        };
        let params = overrides.effective(pack);
        // A parameter overridden per broker or account is, in each row, the value for that
        // row's broker and account (a query rule takes the pack-wide values, as locally).
        let per_row = if source.query.is_some() {
            BTreeMap::new()
        } else {
            per_row_params(source, overrides, &params)
                .into_iter()
                .map(|name| {
                    let sql = overrides
                        .sql_value(&name, &params[&name], narrow_decimal_literal)
                        .map_err(&refuse)?;
                    Ok((name, sql))
                })
                .collect::<Result<BTreeMap<_, _>, NotPortable>>()?
        };
        let exact = |sql: &str| -> Result<String, NotPortable> {
            rewrite_with(sql, &params, &per_row, narrow_decimal_literal)
                .map_err(|e| refuse(format!("cannot make its SQL exact: {e:?}")))
        };
        let query = source.query.as_deref().map(exact).transpose()?;
        let named = match &query {
            Some(q) => tables_named(q),
            None => vec![source.on.clone()],
        };
        for name in named {
            if crate::views::BOOK_FRAMES.contains(&name.as_str())
                && !relations.contains(name.as_str())
            {
                return Err(refuse(format!(
                    "it reads `{name}`, a book of record's frame, and these frames were exported without a book: export the snapshot with the config's [books]"
                )));
            }
            if !relations.contains(name.as_str()) {
                return Err(refuse(format!(
                    "it reads `{name}`, which the Spark engine does not define (it has {})",
                    relations.iter().copied().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let statements = match &query {
            Some(query) => query_statements(rule, query),
            None => {
                let scope = source.scope.as_deref().map(exact).transpose()?;
                let check = exact(&source.check)?;
                let severity_when = source
                    .severity_when
                    .iter()
                    .map(|w| Ok((exact(&w.when)?, w.severity.as_str())))
                    .collect::<Result<Vec<_>, NotPortable>>()?;
                let evidence = source
                    .evidence
                    .iter()
                    .map(|(name, sql)| Ok((name.clone(), exact(sql)?)))
                    .collect::<Result<Vec<_>, NotPortable>>()?;
                row_statements(rule, scope.as_deref(), &check, &severity_when, &evidence)
            }
        };
        out.push(statements);
    }
    Ok(out)
}

/// The tables a query names (its own CTE names aside).
fn tables_named(query: &str) -> Vec<String> {
    use sqlparser::ast::{Visit, Visitor};
    use std::ops::ControlFlow;
    struct Names {
        tables: Vec<String>,
        ctes: BTreeSet<String>,
    }
    impl Visitor for Names {
        type Break = ();
        fn pre_visit_query(&mut self, q: &sqlparser::ast::Query) -> ControlFlow<()> {
            if let Some(with) = &q.with {
                for cte in &with.cte_tables {
                    self.ctes.insert(cte.alias.name.value.to_lowercase());
                }
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_relation(&mut self, name: &sqlparser::ast::ObjectName) -> ControlFlow<()> {
            self.tables.push(name.to_string().to_lowercase());
            ControlFlow::Continue(())
        }
    }
    let dialect = sqlparser::dialect::GenericDialect {};
    let Ok(statements) = sqlparser::parser::Parser::parse_sql(&dialect, query) else {
        // Unparseable here: the engine will say what is wrong with it.
        return Vec::new();
    };
    let mut names = Names {
        tables: Vec::new(),
        ctes: BTreeSet::new(),
    };
    let _ = statements.visit(&mut names);
    names
        .tables
        .into_iter()
        .filter(|t| !names.ctes.contains(t))
        .collect()
}

fn status(scope: Option<&str>, check: &str) -> String {
    let out_of_scope = match scope {
        Some(s) => format!("WHEN ({s}) = false THEN 'out_of_scope' "),
        None => String::new(),
    };
    format!(
        "CASE {out_of_scope}WHEN ({check}) IS NULL THEN 'unknown' WHEN ({check}) THEN 'pass' ELSE 'fail' END"
    )
}

fn quoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The key and message columns `evaluate::findings` reads, as select items.
/// A rule's key and message columns, as (SQL, name).
fn key_and_message_columns(rule: &CompiledRule) -> Vec<(String, String)> {
    let mut columns = Vec::new();
    for key in &rule.keys {
        columns.push((
            format!("CAST({} AS STRING)", quoted(key)),
            format!("__key_{key}"),
        ));
    }
    for name in &rule.message_columns {
        columns.push((quoted(name), format!("__col_{name}")));
    }
    columns
}

fn row_statements(
    rule: &CompiledRule,
    scope: Option<&str>,
    check: &str,
    severity_when: &[(String, &str)],
    evidence: &[(String, String)],
) -> RuleStatements {
    let view = quoted(&rule.view);
    let status = status(scope, check);
    let counts = format!(
        "SELECT __status, count(*) AS __n FROM (SELECT {status} AS __status FROM {view}) t GROUP BY __status"
    );
    let default = format!("'{}'", rule.severity.as_str());
    let severity = if severity_when.is_empty() {
        default
    } else {
        let mut case = String::from("CASE ");
        for (when, level) in severity_when {
            case.push_str(&format!("WHEN ({when}) = true THEN '{level}' "));
        }
        case.push_str(&format!("ELSE {default} END"));
        case
    };
    let mut columns = vec![(severity, "__severity".to_string())];
    columns.extend(key_and_message_columns(rule));
    for (name, sql) in evidence {
        columns.push((sql.clone(), format!("__ev_{name}")));
    }
    let select: Vec<String> = std::iter::once("__status".to_string())
        .chain(columns.iter().map(|(sql, name)| aliased(sql, name)))
        .collect();
    let rows = format!(
        "SELECT {} FROM (SELECT *, {status} AS __status FROM {view}) t WHERE __status IN ('fail', 'unknown')",
        select.join(", ")
    );
    RuleStatements {
        counts,
        rows,
        row_rule: Some(RowRule {
            view: rule.view.clone(),
            status,
            columns,
        }),
    }
}

fn query_statements(rule: &CompiledRule, query: &str) -> RuleStatements {
    let counts = format!("SELECT 'fail' AS __status, count(*) AS __n FROM ({query}) q");
    let mut select = vec![
        "'fail' AS __status".to_string(),
        format!("'{}' AS __severity", rule.severity.as_str()),
    ];
    select.extend(
        key_and_message_columns(rule)
            .into_iter()
            .map(|(sql, name)| format!("{sql} AS {}", quoted(&name))),
    );
    for (name, _) in &rule.evidence {
        select.push(format!(
            "{} AS {}",
            quoted(name),
            quoted(&format!("__ev_{name}"))
        ));
    }
    let rows = format!("SELECT {} FROM ({query}) q", select.join(", "));
    RuleStatements {
        counts,
        rows,
        row_rule: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;
    use polars::sql::SQLContext;
    use proptest::prelude::*;
    use recon_model::pnl_match::{MatchKind, PnlKeys, PositionKeys, match_pnl};

    /// One account's lots and P&L rows, drawn from few spellings so ids and symbols clash.
    type Lot = (String, String, String);
    type PnlRow = (Option<String>, String);

    fn lot() -> impl Strategy<Value = Lot> {
        (
            prop::sample::select(vec!["", "1", "2", "3"]),
            prop::sample::select(vec![
                "AAPL",
                "SPY",
                "SPY261218P00500000",
                "SPY261218C00600000",
                "",
            ]),
        )
            .prop_map(|(id, symbol)| {
                let underlying = if symbol.len() > 6 { "SPY" } else { symbol };
                (id.to_string(), symbol.to_string(), underlying.to_string())
            })
    }

    fn pnl_row() -> impl Strategy<Value = PnlRow> {
        (
            prop::option::of(prop::sample::select(vec!["", "1", "2", "9"])),
            prop::sample::select(vec!["AAPL", "SPY", "SPY261218P00500000", ""]),
        )
            .prop_map(|(id, symbol)| (id.map(str::to_string), symbol.to_string()))
    }

    /// The greedy loop (`recon_model::pnl_match`) per account, as (position row, P&L row,
    /// how), rows numbered across accounts as the export numbers them.
    fn greedy(accounts: &[(Vec<Lot>, Vec<PnlRow>)]) -> Vec<(i64, i64, &'static str)> {
        let (mut first_lot, mut first_pnl) = (0i64, 0i64);
        let mut out = Vec::new();
        for (lots, rows) in accounts {
            let keys: Vec<PositionKeys> = lots
                .iter()
                .map(|(id, symbol, underlying)| PositionKeys {
                    position_id: id,
                    symbol,
                    underlying,
                })
                .collect();
            let pnl: Vec<PnlKeys> = rows
                .iter()
                .map(|(id, symbol)| PnlKeys {
                    position_id: id.as_deref(),
                    symbol,
                })
                .collect();
            for (p, m) in match_pnl(&keys, &pnl).into_iter().enumerate() {
                if let Some((l, kind)) = m {
                    let how = match kind {
                        MatchKind::PositionId => "position_id",
                        MatchKind::Symbol => "symbol",
                    };
                    out.push((first_lot + p as i64, first_pnl + l as i64, how));
                }
            }
            first_lot += lots.len() as i64;
            first_pnl += rows.len() as i64;
        }
        out.sort();
        out
    }

    /// The set-based SQL of `position_pnl_match`, run by polars' own SQL engine.
    fn set_based(accounts: &[(Vec<Lot>, Vec<PnlRow>)]) -> Vec<(i64, i64, &'static str)> {
        let (mut lots, mut rows) = (Vec::new(), Vec::new());
        for (i, (l, r)) in accounts.iter().enumerate() {
            lots.extend(l.iter().map(|lot| (format!("A{i}"), lot.clone())));
            rows.extend(r.iter().map(|row| (format!("A{i}"), row.clone())));
        }
        let positions = df! {
            "broker" => vec!["tradezero"; lots.len()],
            "account_id" => lots.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(),
            "position_id" => lots.iter().map(|(_, l)| l.0.as_str()).collect::<Vec<_>>(),
            "symbol" => lots.iter().map(|(_, l)| l.1.as_str()).collect::<Vec<_>>(),
            "underlying" => lots.iter().map(|(_, l)| l.2.as_str()).collect::<Vec<_>>(),
            "row_no" => (0..lots.len() as i64).collect::<Vec<_>>(),
        }
        .unwrap();
        let pnl = df! {
            "broker" => vec!["tradezero"; rows.len()],
            "account_id" => rows.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(),
            "position_id" => rows.iter().map(|(_, r)| r.0.as_deref()).collect::<Vec<_>>(),
            "symbol" => rows.iter().map(|(_, r)| r.1.as_str()).collect::<Vec<_>>(),
            "row_no" => (0..rows.len() as i64).collect::<Vec<_>>(),
        }
        .unwrap();
        let mut ctx = SQLContext::new();
        ctx.register(&rows_view("positions"), positions.lazy());
        ctx.register(&rows_view("pnl"), pnl.lazy());
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let (_, sql) = view_definitions(as_of, &FrameColumns::new())
            .into_iter()
            .find(|(name, _)| *name == "position_pnl_match")
            .unwrap();
        let matched = ctx.execute(&sql).unwrap().collect().unwrap();
        let (p, l, how) = (
            matched
                .column("position_row")
                .unwrap()
                .i64()
                .unwrap()
                .clone(),
            matched.column("pnl_row").unwrap().i64().unwrap().clone(),
            matched.column("how").unwrap().str().unwrap().clone(),
        );
        let mut out: Vec<(i64, i64, &'static str)> = (0..matched.height())
            .map(|i| {
                let how = match how.get(i) {
                    Some("position_id") => "position_id",
                    _ => "symbol",
                };
                (p.get(i).unwrap(), l.get(i).unwrap(), how)
            })
            .collect();
        out.sort();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The SQL both engines can run takes the same P&L row for every lot as the greedy
        /// loop the local views use: id first, then symbol, then the option's root, each
        /// row once, in row order.
        #[test]
        fn the_set_based_match_is_the_greedy_match(
            accounts in prop::collection::vec(
                (prop::collection::vec(lot(), 0..6), prop::collection::vec(pnl_row(), 0..6)),
                1..4,
            )
        ) {
            prop_assert_eq!(set_based(&accounts), greedy(&accounts));
        }
    }

    #[test]
    fn a_lot_without_its_own_row_does_not_take_anothers() {
        // Lot 1 has no P&L row of its own; lot 2's row (by id) stays with lot 2; the
        // option lot finds its row by the root.
        let accounts = vec![(
            vec![
                ("1".into(), "NVDA".into(), "NVDA".into()),
                ("2".into(), "NVDA".into(), "NVDA".into()),
                ("7".into(), "SPY261218P00500000".into(), "SPY".into()),
            ],
            vec![(Some("2".into()), "NVDA".into()), (None, "SPY".into())],
        )];
        let sql = set_based(&accounts);
        assert_eq!(sql, vec![(1, 0, "position_id"), (2, 1, "symbol")]);
        assert_eq!(sql, greedy(&accounts));
    }
}
