//! Property tests of the shipped packs (core, risk, data-quality) over generated books:
//! a consistent book yields no finding of any pack; planting one break of rule R on one
//! account yields exactly one finding, of R, on that account; and the identity tolerance is
//! inclusive exactly as documented (a difference equal to it passes, one cent more fails).

use chrono::NaiveDate;
use proptest::prelude::*;
use recon_frames::build_frames;
use recon_model::*;
use recon_rules::pack::BUILTIN_PACKS;
use recon_rules::{Finding, Views, compile, evaluate, parse_pack};
use rust_decimal::Decimal;
use std::collections::BTreeSet;

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
}

fn cents(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

/// One generated account: a margin account at TradeZero with stock lots and their P&L rows,
/// every amount consistent, every check of every pack passing with room to spare.
#[derive(Debug, Clone)]
struct GenAccount {
    cash_cents: i64,
    /// Per lot: (shares, price in cents).
    lots: Vec<(i64, i64)>,
}

fn gen_account() -> impl Strategy<Value = GenAccount> {
    (
        prop::collection::vec((1i64..500, 100i64..50_000), 0..6),
        0i64..1_000_000_000,
    )
        .prop_map(|(lots, extra)| {
            // Enough cash that no underlying is a quarter of net liq and excess is ample.
            let gross: i64 = lots.iter().map(|(q, p)| q * p).sum();
            GenAccount {
                cash_cents: 4 * gross + 100_000 + extra,
                lots,
            }
        })
}

fn book_of(accounts: &[GenAccount]) -> Book {
    let mut book = Book::default();
    for (i, a) in accounts.iter().enumerate() {
        let id = format!("TZ{i:04}");
        book.accounts.push(AccountRow {
            broker: Broker::Tradezero,
            account_id: id.clone(),
            account_name: None,
            account_kind: AccountKind::Margin,
            status: AccountStatus::Active,
            options_level: Some("3".into()),
            is_paper: false,
            as_of: as_of(),
        });
        let value: Decimal = a
            .lots
            .iter()
            .map(|(q, p)| Decimal::from(*q) * cents(*p))
            .sum();
        let mut b = BalanceRow::empty(Broker::Tradezero, id.clone(), "USD");
        b.cash = Some(cents(a.cash_cents));
        b.net_liq = Some(cents(a.cash_cents) + value);
        b.buying_power = Some(cents(a.cash_cents) * Decimal::from(2));
        b.maintenance_requirement = Some(value / Decimal::from(4));
        b.margin_excess = Some(cents(a.cash_cents) + value - value / Decimal::from(4));
        b.used_leverage = Some(Decimal::ONE);
        b.allowed_leverage = Some(Decimal::from(4));
        book.balances.push(b);
        for (j, (q, p)) in a.lots.iter().enumerate() {
            let mv = Decimal::from(*q) * cents(*p);
            add_lot(
                &mut book,
                &id,
                &format!("S{j}"),
                Decimal::from(*q),
                mv,
                true,
            );
        }
    }
    book
}

fn findings(book: &Book) -> Vec<Finding> {
    let packs: Vec<_> = BUILTIN_PACKS
        .iter()
        .map(|(_, file, text)| parse_pack(text, file).unwrap())
        .collect();
    let frames = build_frames(book, &BTreeSet::new(), &[]).unwrap();
    let views = Views::build(&frames, as_of()).unwrap();
    let rules = compile(&packs, &views).unwrap();
    let eval = evaluate(&rules, &views);
    for s in &eval.stats {
        assert!(s.error.is_none(), "{}: {:?}", s.rule, s.error);
    }
    eval.findings
}

/// The breaks planted, one per rule they must trigger.
#[derive(Debug, Clone, Copy)]
enum Plant {
    ValueOff,
    PnlRowMissing,
    PnlOrphan,
    ExcessNegative,
    ExcessLow,
    RequirementAboveValue,
    ShortOptionExpiring,
    OptionExpired,
    Quarantined,
    BuyingPowerNegative,
    LeverageAbove,
    Concentrated,
    CashNegativeInCashAccount,
    MarkMissing,
    ValueNotQuantityTimesMark,
    SideContradicted,
    DuplicateId,
    StaleBalance,
}

const PLANTS: [(Plant, &str); 18] = [
    (Plant::ValueOff, "account-value-identity"),
    (Plant::PnlRowMissing, "pnl-coverage"),
    (Plant::PnlOrphan, "pnl-orphan"),
    (Plant::ExcessNegative, "margin-excess-negative"),
    (Plant::ExcessLow, "margin-excess-low"),
    (
        Plant::RequirementAboveValue,
        "margin-requirement-above-value",
    ),
    (Plant::ShortOptionExpiring, "option-expiring"),
    (Plant::OptionExpired, "option-expired"),
    (Plant::Quarantined, "data-quarantine"),
    (Plant::BuyingPowerNegative, "buying-power-negative"),
    (Plant::LeverageAbove, "leverage-above-allowed"),
    (Plant::Concentrated, "underlying-concentration"),
    (
        Plant::CashNegativeInCashAccount,
        "cash-negative-in-cash-account",
    ),
    (Plant::MarkMissing, "mark-missing"),
    (Plant::ValueNotQuantityTimesMark, "market-value-mismatch"),
    (Plant::SideContradicted, "quantity-side-mismatch"),
    (Plant::DuplicateId, "duplicate-position-id"),
    (Plant::StaleBalance, "stale-balance"),
];

/// Plants `plant` on account `id` of `book`, touching nothing else.
fn plant(book: &mut Book, id: &str, plant: Plant) {
    let bal = book
        .balances
        .iter_mut()
        .find(|b| b.account_id == id)
        .unwrap();
    let net_liq = bal.net_liq.unwrap();
    match plant {
        Plant::ValueOff => {
            // Off by one cent more than the tolerance; cash moves, so net liq (and with it
            // the tolerance) stays where it was.
            let tol = Decimal::from(5).max(net_liq.abs() * Decimal::new(1, 3));
            bal.cash = bal.cash.map(|c| c - tol - cents(1));
        }
        Plant::ExcessNegative => bal.margin_excess = Some(cents(-1)),
        Plant::ExcessLow => {
            bal.margin_excess = Some(net_liq * Decimal::new(5, 2) - cents(1));
            bal.maintenance_requirement = Some(net_liq - bal.margin_excess.unwrap());
        }
        Plant::RequirementAboveValue => {
            bal.margin_excess = Some(Decimal::ZERO);
            bal.maintenance_requirement = Some(net_liq + cents(1));
        }
        Plant::BuyingPowerNegative => bal.buying_power = Some(cents(-1)),
        Plant::LeverageAbove => bal.used_leverage = Some(Decimal::from(4) + cents(1)),
        Plant::StaleBalance => {
            bal.updated_at = Some("2026-11-19T23:59:59Z".parse().unwrap());
        }
        Plant::CashNegativeInCashAccount => {
            // A cash account with no positions and a debit.
            bal.cash = Some(cents(-1));
            bal.net_liq = Some(cents(-1));
            bal.margin_excess = None;
            bal.maintenance_requirement = None;
            bal.buying_power = None;
            book.positions.retain(|p| p.account_id != id);
            book.pnl.retain(|p| p.account_id != id);
            let acct = book
                .accounts
                .iter_mut()
                .find(|a| a.account_id == id)
                .unwrap();
            acct.account_kind = AccountKind::Cash;
        }
        Plant::Concentrated => {
            // One more lot of a new name worth just over a quarter of net liq, paid from cash.
            let value = net_liq * Decimal::new(25, 2) + cents(1);
            bal.cash = bal.cash.map(|c| c - value);
            bal.margin_excess = bal.margin_excess.map(|e| e - value / Decimal::from(4));
            bal.maintenance_requirement = bal
                .maintenance_requirement
                .map(|m| m + value / Decimal::from(4));
            add_lot(book, id, "BIG", Decimal::ONE, value, true);
        }
        Plant::PnlRowMissing => {
            add_lot(book, id, "NOPNL", Decimal::ONE, Decimal::ZERO, false);
        }
        Plant::PnlOrphan => book.pnl.push(PnlRow {
            broker: Broker::Tradezero,
            account_id: id.into(),
            position_id: Some("ORPHAN".into()),
            symbol: "ORPHAN".into(),
            exposure: Some(cents(100)),
            realized_pnl: None,
            unrealized_pnl: None,
            day_realized_pnl: None,
            day_unrealized_pnl: None,
        }),
        Plant::ShortOptionExpiring | Plant::OptionExpired => {
            let days = if matches!(plant, Plant::OptionExpired) {
                -1
            } else {
                3
            };
            let expiry = as_of() + chrono::Duration::days(days);
            let occ =
                recon_model::occ::OccSymbol::new("SPY", expiry, PutCall::Put, Decimal::from(500))
                    .unwrap();
            add_lot(
                book,
                id,
                &occ.compact(),
                Decimal::NEGATIVE_ONE,
                Decimal::ZERO,
                true,
            );
            let p = book.positions.last_mut().unwrap();
            p.underlying = "SPY".into();
            p.instrument = Instrument::EquityOption;
            p.put_call = Some(PutCall::Put);
            p.strike = Some(Decimal::from(500));
            p.expires_at = Some(expiry);
            p.multiplier = Decimal::ONE_HUNDRED;
            p.side = Some(Side::Short);
        }
        Plant::Quarantined => book.quarantine.push(QuarantineRow {
            broker: Broker::Tradezero,
            account_id: Some(id.into()),
            source: format!("tradezero/{id}/positions.json"),
            pointer: "/0/shares".into(),
            reason: "`shares` is not a number".into(),
        }),
        Plant::MarkMissing => {
            add_lot(book, id, "NOMARK", Decimal::ONE, Decimal::ZERO, true);
            let p = book.positions.last_mut().unwrap();
            p.pnl_expected = false;
            p.mark = None;
            p.close_price = None;
            book.pnl.pop();
        }
        Plant::ValueNotQuantityTimesMark => {
            let p = book.positions.iter_mut().find(|p| p.account_id == id);
            match p {
                Some(p) => {
                    // The broker's value is off by 0.02 (the tolerance is ≥ 0.01); the
                    // value used for net liq stays the truth.
                    p.market_value = p
                        .market_value
                        .map(|v| v + cents(2) + v.abs() * Decimal::new(1, 4));
                }
                None => {
                    add_lot(book, id, "OFF", Decimal::ONE, Decimal::ZERO, true);
                    let p = book.positions.last_mut().unwrap();
                    p.mark = Some(cents(100));
                    p.market_value = Some(cents(102));
                }
            }
        }
        Plant::SideContradicted => {
            add_lot(book, id, "SIDE", Decimal::ONE, Decimal::ZERO, true);
            book.positions.last_mut().unwrap().side = Some(Side::Short);
        }
        Plant::DuplicateId => {
            add_lot(book, id, "DUP1", Decimal::ONE, Decimal::ZERO, true);
            add_lot(book, id, "DUP2", Decimal::ONE, Decimal::ZERO, true);
            let n = book.positions.len();
            book.positions[n - 1].position_id = book.positions[n - 2].position_id.clone();
            // The P&L rows stay matched (by symbol, then).
            let m = book.pnl.len();
            book.pnl[m - 1].position_id = None;
            book.pnl[m - 2].position_id = None;
        }
    }
}

/// Adds a lot worth `value` (a price of value / quantity) with its P&L row if `with_pnl`.
fn add_lot(
    book: &mut Book,
    id: &str,
    symbol: &str,
    quantity: Decimal,
    value: Decimal,
    with_pnl: bool,
) {
    let pid = format!("{id}-{symbol}");
    let price = if quantity.is_zero() {
        Decimal::ZERO
    } else {
        (value / quantity).abs()
    };
    book.positions.push(PositionRow {
        broker: Broker::Tradezero,
        account_id: id.into(),
        position_id: pid.clone().into(),
        symbol: symbol.into(),
        underlying: symbol.into(),
        instrument: Instrument::Equity,
        put_call: None,
        strike: None,
        expires_at: None,
        quantity,
        side: Some(if quantity.is_sign_negative() {
            Side::Short
        } else {
            Side::Long
        }),
        multiplier: Decimal::ONE,
        avg_price: Some(price),
        mark: Some(price),
        close_price: Some(price),
        market_value: Some(value),
        net_liq_value: Some(value),
        cost_basis: None,
        unrealized_pnl: None,
        pnl_expected: true,
        updated_at: None,
        cusip: None,
    });
    if with_pnl {
        book.pnl.push(PnlRow {
            broker: Broker::Tradezero,
            account_id: id.into(),
            position_id: Some(pid.into()),
            symbol: symbol.into(),
            exposure: Some(value),
            realized_pnl: None,
            unrealized_pnl: None,
            day_realized_pnl: None,
            day_unrealized_pnl: None,
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_consistent_book_yields_no_finding_of_any_pack(accounts in prop::collection::vec(gen_account(), 1..12)) {
        let found = findings(&book_of(&accounts));
        prop_assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn one_planted_break_yields_exactly_one_finding_of_its_rule_on_its_account(
        accounts in prop::collection::vec(gen_account(), 1..8),
        which in any::<prop::sample::Index>(),
        kind in 0..PLANTS.len(),
    ) {
        let mut book = book_of(&accounts);
        let target = format!("TZ{:04}", which.index(accounts.len()));
        let (what, rule) = PLANTS[kind];
        plant(&mut book, &target, what);
        let found = findings(&book);
        prop_assert_eq!(found.len(), 1, "{:?} on {}: {:#?}", what, target, found);
        prop_assert_eq!(found[0].rule.as_str(), rule);
        prop_assert_eq!(found[0].account.as_deref(), Some(target.as_str()));
    }

    #[test]
    fn the_identity_tolerance_is_inclusive(
        account in gen_account(),
        over in prop::bool::ANY,
        negative in prop::bool::ANY,
    ) {
        let mut book = book_of(&[account]);
        let bal = &mut book.balances[0];
        let net_liq = bal.net_liq.unwrap();
        let tol = Decimal::from(5).max(net_liq.abs() * Decimal::new(1, 3));
        // Moving the positions' value, not net liq, keeps the tolerance where it was.
        let off = if over { tol + cents(1) } else { tol };
        let off = if negative { -off } else { off };
        bal.cash = bal.cash.map(|c| c - off);
        let found: Vec<_> = findings(&book)
            .into_iter()
            .filter(|f| f.rule == "account-value-identity")
            .collect();
        prop_assert_eq!(found.len(), usize::from(over), "off {} with tolerance {}", off, tol);
    }
}
