//! The core pack over small books: exactly the planted breaks, `unknown` for missing data,
//! exact decimal tolerances, and packs refused at load time with file, rule and name.

use chrono::NaiveDate;
use recon_frames::build_frames;
use recon_model::*;
use recon_rules::pack::CORE_PACK_FILE;
use recon_rules::{
    CORE_PACK, Finding, FindingStatus, Severity, Views, compile, evaluate, parse_pack,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::BTreeSet;

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
}

fn account(id: &str, kind: AccountKind) -> AccountRow {
    AccountRow {
        broker: Broker::Tradezero,
        account_id: id.into(),
        account_name: None,
        account_kind: kind,
        status: AccountStatus::Active,
        options_level: None,
        is_paper: kind == AccountKind::Paper,
        as_of: as_of(),
    }
}

fn balance(id: &str, cash: Decimal, net_liq: Decimal) -> BalanceRow {
    let mut b = BalanceRow::empty(Broker::Tradezero, id, "USD");
    b.cash = Some(cash);
    b.net_liq = Some(net_liq);
    b
}

fn position(account: &str, id: &str, symbol: &str, value: Option<Decimal>) -> PositionRow {
    PositionRow {
        broker: Broker::Tradezero,
        account_id: account.into(),
        position_id: id.into(),
        symbol: symbol.into(),
        underlying: symbol.into(),
        instrument: Instrument::Equity,
        put_call: None,
        strike: None,
        expires_at: None,
        quantity: dec!(10),
        side: None,
        multiplier: dec!(1),
        avg_price: None,
        mark: None,
        close_price: None,
        market_value: value,
        net_liq_value: value,
        cost_basis: None,
        unrealized_pnl: None,
        pnl_expected: true,
        updated_at: None,
        cusip: None,
    }
}

fn pnl(account: &str, id: &str, symbol: &str, exposure: Decimal) -> PnlRow {
    PnlRow {
        broker: Broker::Tradezero,
        account_id: account.into(),
        position_id: Some(id.into()),
        symbol: symbol.into(),
        exposure: Some(exposure),
        realized_pnl: None,
        unrealized_pnl: None,
        day_realized_pnl: None,
        day_unrealized_pnl: None,
    }
}

fn run(book: &Book, pack_text: &str) -> (Vec<Finding>, Vec<recon_rules::RuleStats>) {
    let frames = build_frames(book, &BTreeSet::new(), &[]).unwrap();
    let views = Views::build(&frames, as_of()).unwrap();
    let pack = parse_pack(pack_text, "test.toml").unwrap();
    let rules = compile(&[pack], &views).unwrap();
    let eval = evaluate(&rules, &views);
    (eval.findings, eval.stats)
}

/// An account whose identity is off by `off`, with one valued position and its P&L row.
fn book_off_by(off: Decimal, net_liq: Decimal) -> Book {
    let cash = dec!(1000);
    let value = net_liq - cash - off;
    Book {
        accounts: vec![account("A", AccountKind::Margin)],
        balances: vec![balance("A", cash, net_liq)],
        positions: vec![position("A", "1", "AAPL", Some(value))],
        pnl: vec![pnl("A", "1", "AAPL", value)],
        quarantine: vec![],
    }
}

#[test]
fn identity_tolerance_is_exact_and_inclusive() {
    // Tolerance here is max(5.00, 0.001 × 3000 = 3.00) = 5.00.
    for (off, fails) in [
        (dec!(0), false),
        (dec!(4.99), false),
        (dec!(5.00), false),
        (dec!(-5.00), false),
        (dec!(5.01), true),
        (dec!(5.00000001), true),
        (dec!(-5.00000001), true),
    ] {
        let (findings, stats) = run(&book_off_by(off, dec!(3000)), CORE_PACK);
        let identity: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.rule == "account-value-identity")
            .collect();
        assert_eq!(identity.len(), fails as usize, "off by {off}: {findings:?}");
        let s = stats
            .iter()
            .find(|s| s.rule == "account-value-identity")
            .unwrap();
        assert_eq!((s.in_scope, s.failed), (1, fails as u64), "off by {off}");
        if fails {
            let difference: Decimal = identity[0].evidence["difference"].parse().unwrap();
            assert_eq!(difference, off);
            assert_eq!(identity[0].severity, Severity::Error);
            assert_eq!(identity[0].account.as_deref(), Some("A"));
        }
    }
}

#[test]
fn the_relative_tolerance_applies_to_large_accounts() {
    // 0.001 × 1,000,000 = 1,000: off by 999.99 passes, 1,000.01 fails.
    let (f, _) = run(&book_off_by(dec!(999.99), dec!(1000000)), CORE_PACK);
    assert!(f.is_empty(), "{f:?}");
    let (f, _) = run(&book_off_by(dec!(1000.01), dec!(1000000)), CORE_PACK);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].evidence["tolerance"], "1000.00");
}

#[test]
fn an_unvalued_position_makes_the_identity_unknown_not_passed() {
    let mut book = book_off_by(dec!(0), dec!(3000));
    book.positions.push(position("A", "2", "MSFT", None));
    let (findings, stats) = run(&book, CORE_PACK);
    let identity: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.rule == "account-value-identity")
        .collect();
    assert_eq!(identity.len(), 1);
    assert_eq!(identity[0].status, FindingStatus::Unknown);
    let s = stats
        .iter()
        .find(|s| s.rule == "account-value-identity")
        .unwrap();
    assert_eq!((s.passed, s.unknown), (0, 1));
}

#[test]
fn pnl_coverage_is_an_error_live_and_a_warning_on_paper() {
    let book = Book {
        accounts: vec![
            account("LIVE", AccountKind::Margin),
            account("PAPER", AccountKind::Paper),
        ],
        balances: vec![
            balance("LIVE", dec!(0), dec!(0)),
            balance("PAPER", dec!(0), dec!(0)),
        ],
        positions: vec![
            position("LIVE", "1", "AAPL", None),
            position("PAPER", "2", "AAPL", None),
            // Matched by symbol although the P&L row has another id.
            position("PAPER", "3", "MSFT", Some(dec!(10))),
        ],
        pnl: vec![pnl("PAPER", "x", "MSFT", dec!(10))],
        quarantine: vec![],
    };
    let (findings, stats) = run(&book, CORE_PACK);
    let coverage: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.rule == "pnl-coverage")
        .collect();
    assert_eq!(coverage.len(), 2, "{coverage:?}");
    let live = coverage
        .iter()
        .find(|f| f.account.as_deref() == Some("LIVE"))
        .unwrap();
    assert_eq!(live.severity, Severity::Error);
    assert_eq!(live.position.as_deref(), Some("1"));
    let paper = coverage
        .iter()
        .find(|f| f.account.as_deref() == Some("PAPER"))
        .unwrap();
    assert_eq!(paper.severity, Severity::Warning);
    assert_eq!(paper.position.as_deref(), Some("2"));
    let s = stats.iter().find(|s| s.rule == "pnl-coverage").unwrap();
    assert_eq!((s.in_scope, s.passed, s.failed), (3, 1, 2));
}

#[test]
fn quarantine_rows_become_findings() {
    let mut book = book_off_by(dec!(0), dec!(3000));
    book.quarantine.push(QuarantineRow {
        broker: Broker::Tradezero,
        account_id: Some("A".into()),
        source: "tradezero/A/positions.json".into(),
        pointer: "/positions/3".into(),
        reason: "`side` is \"Sideways\"".into(),
    });
    let (findings, _) = run(&book, CORE_PACK);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].rule, "data-quarantine");
    assert_eq!(
        findings[0].message,
        "tradezero/A/positions.json/positions/3: `side` is \"Sideways\""
    );
}

const HEADER: &str = "[pack]\nid = \"t\"\nversion = \"1\"\n";

fn rule(on: &str, check: &str) -> String {
    format!(
        "{HEADER}[params]\ntol = \"0.01\"\n[[rule]]\nid = \"r\"\ntitle = \"t\"\nseverity = \"error\"\non = \"{on}\"\ncheck = \"{check}\"\nmessage = \"m\"\n"
    )
}

fn compile_error(text: &str) -> String {
    let frames = build_frames(&Book::default(), &BTreeSet::new(), &[]).unwrap();
    let views = Views::build(&frames, as_of()).unwrap();
    let pack = parse_pack(text, "packs/custom.toml").unwrap();
    compile(&[pack], &views).unwrap_err().to_string()
}

#[test]
fn unknown_names_are_refused_with_file_rule_and_suggestion() {
    let err = compile_error(&rule("account_view", "net_lq > 0"));
    assert_eq!(
        err,
        "packs/custom.toml: rule `r`: unknown column `net_lq` in `check` (view `account_view`) (did you mean `net_liq`?)"
    );
    let err = compile_error(&rule("account_veiw", "net_liq > 0"));
    assert!(
        err.contains("unknown view `account_veiw`") && err.contains("account_view"),
        "{err}"
    );
    let err = compile_error(&rule("account_view", "net_liq > :toll"));
    assert!(
        err.contains("unknown parameter `:toll`") && err.contains("`tol`"),
        "{err}"
    );
    let err = compile_error(&rule("account_view", "net_liq + cash"));
    assert!(err.contains("must be true or false"), "{err}");
    let bad_message =
        rule("account_view", "net_liq > 0").replace("message = \"m\"", "message = \"{nett_liq}\"");
    let err = compile_error(&bad_message);
    assert!(
        err.contains("{nett_liq}") && err.contains("net_liq"),
        "{err}"
    );
}

#[test]
fn the_shipped_core_pack_compiles() {
    let frames = build_frames(&Book::default(), &BTreeSet::new(), &[]).unwrap();
    let views = Views::build(&frames, as_of()).unwrap();
    let pack = parse_pack(CORE_PACK, CORE_PACK_FILE).unwrap();
    let rules = compile(&[pack], &views).unwrap();
    assert!(rules.len() >= 4);
}

#[test]
fn a_decimal_literal_is_not_a_float() {
    // STACK.md §1.1: as an f64, 1234567890123456.565 rounds to ...456.5 and the comparison
    // below would be false. As an exact decimal it is true.
    let mut book = book_off_by(dec!(0), dec!(3000));
    book.balances[0].cash = Some(dec!(1234567890123456.566));
    let text = rule("account_view", "cash <= 1234567890123456.565");
    let (findings, _) = run(&book, &text);
    assert_eq!(findings.len(), 1, "the comparison must be made in Decimal");
    let text = rule("account_view", "cash > 1234567890123456.565");
    let (findings, _) = run(&book, &text);
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn a_rule_that_fails_to_evaluate_is_a_finding_not_a_crash() {
    // Two amounts near the Decimal(38, 8) limit overflow when added: a runtime error.
    let mut book = book_off_by(dec!(0), dec!(3000));
    book.balances[0].cash = Some(Decimal::MAX);
    book.balances[0].net_liq = Some(Decimal::MAX);
    let text = format!(
        "{}\n[[rule]]\nid = \"fine\"\ntitle = \"t\"\nseverity = \"error\"\non = \"account_view\"\ncheck = \"cash >= 0\"\nmessage = \"m\"\n",
        rule(
            "account_view",
            &format!("{} > 0", vec!["cash"; 40].join(" + "))
        )
    );
    let (findings, stats) = run(&book, &text);
    let broken: Vec<&Finding> = findings.iter().filter(|f| f.rule == "r").collect();
    assert_eq!(broken.len(), 1, "{findings:?}");
    assert!(
        broken[0].message.contains("could not be evaluated"),
        "{}",
        broken[0].message
    );
    let fine = stats.iter().find(|s| s.rule == "fine").unwrap();
    assert_eq!((fine.passed, fine.error.as_deref()), (1, None));
}

fn option(account: &str, id: &str, days: i64, quantity: Decimal) -> PositionRow {
    let expiry = as_of() + chrono::Duration::days(days);
    let occ = recon_model::occ::OccSymbol::new("SPY", expiry, PutCall::Put, dec!(500)).unwrap();
    PositionRow {
        symbol: occ.compact_text(),
        underlying: "SPY".into(),
        instrument: Instrument::EquityOption,
        put_call: Some(PutCall::Put),
        strike: Some(dec!(500)),
        expires_at: Some(expiry),
        quantity,
        multiplier: dec!(100),
        ..position(account, id, "SPY", Some(dec!(0)))
    }
}

fn by_rule<'a>(findings: &'a [Finding], rule: &str) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.rule == rule).collect()
}

#[test]
fn options_near_and_past_expiry() {
    let mut book = book_off_by(dec!(0), dec!(3000));
    book.positions.extend([
        option("A", "short7", 7, dec!(-1)),
        option("A", "long0", 0, dec!(2)),
        option("A", "short8", 8, dec!(-1)),
        option("A", "expired", -1, dec!(1)),
        option("A", "flat", 2, dec!(0)),
    ]);
    let (findings, stats) = run(&book, CORE_PACK);
    let expiring = by_rule(&findings, "option-expiring");
    let got: Vec<(&str, Severity)> = expiring
        .iter()
        .map(|f| (f.position.as_deref().unwrap(), f.severity))
        .collect();
    assert_eq!(got.len(), 2, "{expiring:?}");
    assert!(got.contains(&("short7", Severity::Error)));
    assert!(got.contains(&("long0", Severity::Warning)));
    let s = stats.iter().find(|s| s.rule == "option-expiring").unwrap();
    // In scope: short7, long0, short8; out: the equity, the expired lot, the flat one.
    assert_eq!((s.in_scope, s.failed, s.out_of_scope), (3, 2, 3));

    let expired = by_rule(&findings, "option-expired");
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].position.as_deref(), Some("expired"));
    assert_eq!(expired[0].evidence["days_to_expiry"], "-1");
}

#[test]
fn margin_excess_negative_and_low() {
    let mut book = Book::default();
    for (id, excess) in [
        ("NEG", Some(dec!(-0.01))),
        ("LOW", Some(dec!(4999.99))),
        ("EDGE", Some(dec!(5000))),
        ("NONE", None),
    ] {
        book.accounts.push(account(id, AccountKind::Margin));
        let mut b = balance(id, dec!(100000), dec!(100000));
        b.margin_excess = excess;
        book.balances.push(b);
    }
    let (findings, stats) = run(&book, CORE_PACK);
    let negative = by_rule(&findings, "margin-excess-negative");
    assert_eq!(negative.len(), 1);
    assert_eq!(negative[0].account.as_deref(), Some("NEG"));
    assert_eq!(negative[0].severity, Severity::Critical);
    let low = by_rule(&findings, "margin-excess-low");
    assert_eq!(low.len(), 1, "{low:?}");
    assert_eq!(low[0].account.as_deref(), Some("LOW"));
    assert_eq!(low[0].evidence["minimum"], "5000.00");
    // An account without margin excess is out of scope, and counted as such.
    let s = stats
        .iter()
        .find(|s| s.rule == "margin-excess-negative")
        .unwrap();
    assert_eq!((s.in_scope, s.out_of_scope), (3, 1));
}

#[test]
fn pnl_rows_without_a_position_are_orphans_unless_closed_today() {
    let mut book = book_off_by(dec!(0), dec!(3000));
    book.pnl.push(pnl("A", "9", "NFLX", dec!(1830.40)));
    book.pnl.push(pnl("A", "8", "INTC", dec!(0)));
    let (findings, stats) = run(&book, CORE_PACK);
    let orphans = by_rule(&findings, "pnl-orphan");
    assert_eq!(orphans.len(), 1, "{orphans:?}");
    assert_eq!(orphans[0].symbol.as_deref(), Some("NFLX"));
    assert_eq!(orphans[0].evidence["exposure"], "1830.40");
    let s = stats.iter().find(|s| s.rule == "pnl-orphan").unwrap();
    assert_eq!(
        (s.in_scope, s.passed, s.failed, s.out_of_scope),
        (2, 1, 1, 1)
    );

    // With the account's data incomplete, an unmatched row proves nothing: unknown.
    let frames = build_frames(
        &book,
        &BTreeSet::from([("tradezero".to_string(), "A".to_string())]),
        &[],
    )
    .unwrap();
    let views = Views::build(&frames, as_of()).unwrap();
    let rules = compile(&[parse_pack(CORE_PACK, CORE_PACK_FILE).unwrap()], &views).unwrap();
    let eval = evaluate(&rules, &views);
    let orphans = by_rule(&eval.findings, "pnl-orphan");
    assert_eq!(orphans.len(), 1);
    assert_eq!(orphans[0].status, FindingStatus::Unknown);
    assert_eq!(views.get("pnl_orphans").unwrap().height(), 0);
}

/// Every case under rules/tests/<pack>/ of every built-in pack produces exactly the
/// findings it expects, and the cases are the rules' docs made real: one file per rule,
/// `<rule-id>.toml`, with an example that fails (a finding of the rule) and, where a row can
/// pass, one that passes (`passes`). A rule whose every row is a finding (`check = "false"`)
/// or a query rule (it returns only failing rows) passes by having no row.
#[test]
fn the_shipped_pack_cases_pass() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/tests");
    let packs: Vec<_> = recon_rules::pack::BUILTIN_PACKS
        .iter()
        .map(|(_, file, text)| parse_pack(text, file).unwrap())
        .collect();
    let results = recon_rules::cases::run_all(&dir, &packs);
    for pack in &packs {
        let cases = &results[&pack.id];
        assert!(cases.len() >= 3, "{}: {} cases", pack.id, cases.len());
        for r in cases {
            assert!(
                r.passed(),
                "{}: {}\nerror: {:?}\nmissing: {:#?}\nunexpected: {:#?}\npasses (rule, want, got): {:?}",
                r.file.display(),
                r.description,
                r.error,
                r.missing,
                r.unexpected,
                r.wrong_passes
            );
        }
        let files: BTreeSet<String> = recon_rules::cases::case_files(&dir, &pack.id)
            .iter()
            .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        let rules: BTreeSet<String> = pack.rules.iter().map(|r| r.id.clone()).collect();
        assert_eq!(
            files, rules,
            "{}: one case file per rule, named by its id",
            pack.id
        );
        for rule in &pack.rules {
            let path = dir.join(&pack.id).join(format!("{}.toml", rule.id));
            let case: recon_rules::cases::Case =
                toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            assert!(
                case.expect.iter().any(|e| e.rule == rule.id),
                "{}: no example that fails (no finding of {} expected)",
                path.display(),
                rule.id
            );
            let can_pass = rule.query.is_none() && rule.check.trim() != "false";
            if can_pass {
                assert!(
                    case.passes.get(&rule.id).is_some_and(|&n| n >= 1),
                    "{}: no example that passes (`passes` names no passing row of {})",
                    path.display(),
                    rule.id
                );
            }
        }
    }
}

#[test]
fn parameters_can_be_overridden_per_broker_and_account() {
    use recon_rules::compile_with;
    use recon_rules::params::Overrides;
    // Three accounts, each off by 1,000.00 on 3,000 of net liq (default tolerance 5.00).
    let mut book = Book::default();
    for id in ["A", "B", "C"] {
        let one = book_off_by(dec!(1000), dec!(3000));
        book.accounts.push(account(id, AccountKind::Margin));
        book.balances.push(BalanceRow {
            account_id: id.into(),
            ..one.balances[0].clone()
        });
        book.positions.push(PositionRow {
            account_id: id.into(),
            position_id: format!("{id}1").into(),
            ..one.positions[0].clone()
        });
        book.pnl.push(PnlRow {
            account_id: id.into(),
            position_id: Some(format!("{id}1").into()),
            ..one.pnl[0].clone()
        });
    }
    let pack = parse_pack(CORE_PACK, CORE_PACK_FILE).unwrap();
    // tradezero: 999.99 for every account; account b (any case, as environment variables
    // arrive lower-cased): exactly 1000.00, so a difference equal to it passes.
    let config: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_str(
        r#"{"tradezero": {"value_tol_abs": "999.99", "b": {"value_tol_abs": "1000.00"}}}"#,
    )
    .unwrap();
    let overrides = Overrides::from_config(&config, std::slice::from_ref(&pack)).unwrap();
    let frames = build_frames(&book, &BTreeSet::new(), &[]).unwrap();
    let views = Views::build(&frames, as_of()).unwrap();
    let rules = compile_with(std::slice::from_ref(&pack), &views, &overrides).unwrap();
    let eval = evaluate(&rules, &views);
    let failed: BTreeSet<&str> = eval
        .findings
        .iter()
        .filter(|f| f.rule == "account-value-identity")
        .filter_map(|f| f.account.as_deref())
        .collect();
    assert_eq!(failed, BTreeSet::from(["A", "C"]));
    let a = eval
        .findings
        .iter()
        .find(|f| f.account.as_deref() == Some("A"))
        .unwrap();
    assert_eq!(a.evidence["tolerance"], "999.99");

    // Names are checked against the packs, and floats refused.
    let bad: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_str(r#"{"tradezero": {"value_tol_ab": "1"}}"#).unwrap();
    let err = Overrides::from_config(&bad, std::slice::from_ref(&pack)).unwrap_err();
    assert!(
        err.contains("rules.params.tradezero.value_tol_ab") && err.contains("`value_tol_abs`"),
        "{err}"
    );
    let float: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_str(r#"{"value_tol_rel": 0.002}"#).unwrap();
    assert!(
        Overrides::from_config(&float, &[pack])
            .unwrap_err()
            .contains("float")
    );
}

const QUERY_PACK: &str = r#"
[pack]
id = "set-rules"
version = "1"

[params]
max_lots = 1

[[rule]]
id = "lots-per-underlying"
title = "At most one lot per underlying"
severity = "warning"
query = """
SELECT broker, account_id, underlying, COUNT(*) AS lots
FROM position_view
GROUP BY broker, account_id, underlying
HAVING COUNT(*) > :max_lots
"""
message = "{lots} lots of {underlying}"
"#;

#[test]
fn query_rules_report_the_rows_they_return() {
    let mut book = book_off_by(dec!(0), dec!(3000));
    book.positions
        .push(position("A", "2", "AAPL", Some(dec!(0))));
    book.pnl.push(pnl("A", "2", "AAPL", dec!(0)));
    book.positions
        .push(position("A", "3", "MSFT", Some(dec!(0))));
    book.pnl.push(pnl("A", "3", "MSFT", dec!(0)));
    let (findings, stats) = run(&book, QUERY_PACK);
    assert_eq!(findings.len(), 1, "{findings:?}");
    let f = &findings[0];
    assert_eq!(
        (f.rule.as_str(), f.account.as_deref()),
        ("lots-per-underlying", Some("A"))
    );
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.message, "2 lots of AAPL");
    assert_eq!(f.evidence["underlying"], "AAPL");
    let s = stats
        .iter()
        .find(|s| s.rule == "lots-per-underlying")
        .unwrap();
    assert_eq!(s.failed, 1);

    // Nothing to report: no finding, no error.
    let (findings, _) = run(&book_off_by(dec!(0), dec!(3000)), QUERY_PACK);
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn bad_query_rules_are_refused_by_name() {
    let err = compile_error(&QUERY_PACK.replace("FROM position_view", "FROM position_veiw"));
    assert!(
        err.contains("packs/custom.toml") && err.contains("lots-per-underlying"),
        "{err}"
    );
    let err = compile_error(
        &QUERY_PACK
            .replace("SELECT broker, account_id,", "SELECT broker,")
            .replace("GROUP BY broker, account_id,", "GROUP BY broker,"),
    );
    assert!(err.contains("must return `account_id`"), "{err}");
    let err = compile_error(&QUERY_PACK.replace("{lots} lots", "{lot} lots"));
    assert!(err.contains("{lot}") && err.contains("`lots`"), "{err}");
    let mixed = QUERY_PACK.replace("message = ", "check = \"true\"\nmessage = ");
    let err = parse_pack(&mixed, "x.toml").unwrap_err().to_string();
    assert!(err.contains("a `query` rule has no `check`"), "{err}");
}

/// Every status of one rule counted at once, each exactly (pass, fail, unknown from a null
/// check, out of scope from a false `where`), and a `query` rule's rows counted as failures.
#[test]
fn each_status_is_counted_exactly() {
    let mut book = Book::default();
    for (id, excess) in [
        ("PASS", Some(dec!(10))),
        ("FAIL", Some(dec!(-10))),
        ("UNKNOWN", None),
        ("OUT", Some(dec!(-5))),
    ] {
        book.accounts.push(account(id, AccountKind::Margin));
        let mut b = balance(id, dec!(100000), dec!(100000));
        b.margin_excess = excess;
        book.balances.push(b);
    }
    let pack = format!(
        "{HEADER}[[rule]]\nid = \"r\"\ntitle = \"t\"\nseverity = \"error\"\non = \"account_view\"\n\
         where = \"account_id <> 'OUT'\"\ncheck = \"margin_excess > 0\"\nmessage = \"m\"\n\n\
         [[rule]]\nid = \"q\"\ntitle = \"t\"\nseverity = \"warning\"\n\
         query = \"SELECT broker, account_id FROM account_view WHERE account_id IN ('FAIL', 'OUT')\"\n\
         message = \"m\"\n"
    );
    let (findings, stats) = run(&book, &pack);
    let counts = |rule: &str| {
        let s = stats.iter().find(|s| s.rule == rule).unwrap();
        assert_eq!(s.error, None, "{findings:?}");
        (s.in_scope, s.passed, s.failed, s.unknown, s.out_of_scope)
    };
    assert_eq!(counts("r"), (3, 1, 1, 1, 1));
    assert_eq!(counts("q"), (2, 0, 2, 0, 0));
}
