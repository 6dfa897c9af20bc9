//! Property tests of the `books` pack over generated books: brokers and a book of record that
//! hold the same things, spelled differently (BRK.B / BRK/B, compact / padded OCC,
//! `/ESZ6` / `ES 20261218 CME Future`, a renamed ticker with the same CUSIP on both sides)
//! and split into different lots, give no finding; planting one break of each kind gives
//! exactly one finding, of its rule, on its account.

use chrono::NaiveDate;
use proptest::prelude::*;
use recon_frames::books::{BookFrames, BookRows};
use recon_frames::build_frames;
use recon_model::instrument_key::instrument_key;
use recon_model::*;
use recon_rules::pack::builtin_pack;
use recon_rules::{Views, compile, evaluate};
use rust_decimal::Decimal;
use std::collections::BTreeSet;

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Equity,
    Option,
    Future,
    /// An equity the books still hold under its former ticker, with its CUSIP on both sides.
    Renamed,
}

/// One instrument held: kind, signed quantity, price in cents, lots at the broker and in
/// the books.
#[derive(Debug, Clone)]
struct Holding {
    kind: Kind,
    quantity: i64,
    price_cents: i64,
    broker_lots: usize,
    book_lots: usize,
}

fn holding() -> impl Strategy<Value = Holding> {
    (
        prop_oneof![
            Just(Kind::Equity),
            Just(Kind::Option),
            Just(Kind::Future),
            Just(Kind::Renamed)
        ],
        prop_oneof![-500i64..-1, 2i64..500],
        100i64..50_000,
        1usize..3,
        1usize..3,
    )
        .prop_map(
            |(kind, quantity, price_cents, broker_lots, book_lots)| Holding {
                kind,
                quantity,
                price_cents,
                broker_lots,
                book_lots,
            },
        )
}

/// A valid CUSIP of its own for instrument `j` of a kind.
fn cusip_of(kind: Kind, j: usize) -> String {
    cusip::build_from_payload(&format!("{:06}10", kind as usize * 1000 + j))
        .unwrap()
        .to_string()
}

/// Instrument `j` of a kind as the broker spells it, as the books spell it, its multiplier,
/// and the CUSIP each side states (the books state equities' CUSIPs, which only a renamed
/// ticker's broker states too: a CUSIP on one side alone leaves the symbol to decide).
fn spellings(kind: Kind, j: usize) -> (String, String, Decimal, [Option<String>; 2]) {
    let (at_broker, in_books, multiplier) = symbols(kind, j);
    let cusips = match kind {
        Kind::Equity => [None, Some(cusip_of(kind, j))],
        Kind::Renamed => [Some(cusip_of(kind, j)), Some(cusip_of(kind, j))],
        Kind::Option | Kind::Future => [None, None],
    };
    (at_broker, in_books, multiplier, cusips)
}

fn symbols(kind: Kind, j: usize) -> (String, String, Decimal) {
    let months = ["F", "G", "H", "J", "K", "M", "N", "Q", "U", "V", "X", "Z"];
    match kind {
        Kind::Equity => {
            let root = format!("Q{}", (b'A' + (j % 26) as u8) as char);
            (format!("{root}.B"), format!("{root}/B"), Decimal::ONE)
        }
        Kind::Renamed => {
            let root = format!("N{}", (b'A' + (j % 26) as u8) as char);
            (root.clone(), format!("{root}OLD"), Decimal::ONE)
        }
        Kind::Option => {
            let strike = 100 + j as i64 * 5;
            let compact = format!("SPY261218C{:08}", strike * 1000);
            let padded = format!("SPY   261218C{:08}", strike * 1000);
            (compact, padded, Decimal::ONE_HUNDRED)
        }
        Kind::Future => {
            let m = j % 12;
            let month = m + 1;
            (
                format!("/ES{}7", months[m]),
                format!("ES 2027{month:02}15 CME Future"),
                Decimal::from(50),
            )
        }
    }
}

/// `total` split into `n` lots of the same sign.
fn lots(total: i64, n: usize) -> Vec<i64> {
    if n == 1 || total.abs() < 2 {
        return vec![total];
    }
    let first = total / 2;
    vec![first, total - first]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Plant {
    None,
    PositionNotBooked,
    BookedNotHeld,
    Quantity,
    Sign,
    Price,
    Value,
    Cash,
}

/// The broker rows and the book rows of `accounts`, with `plant` on account 0's first
/// holding (or its cash).
fn build(accounts: &[Vec<Holding>], plant: Plant) -> (Book, BookRows) {
    let mut book = Book::default();
    let mut record = BookRows::default();
    for (i, holdings) in accounts.iter().enumerate() {
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
        let mut balance = BalanceRow::empty(Broker::Tradezero, id.clone(), "USD");
        balance.cash = Some(Decimal::new(1_000_000, 2));
        book.balances.push(balance);
        let planted = i == 0;
        let mut cash = Decimal::new(1_000_000, 2);
        if planted && plant == Plant::Cash {
            cash += Decimal::TEN;
        }
        record.cash.push(BookCashRow {
            book: "prop".into(),
            broker: Broker::Tradezero,
            account_id: id.clone(),
            currency: "USD".into(),
            amount: cash,
            as_of: as_of(),
        });
        for (j, h) in holdings.iter().enumerate() {
            let (at_broker, in_books, multiplier, [broker_cusip, book_cusip]) =
                spellings(h.kind, j);
            let price = Decimal::new(h.price_cents, 2);
            for (n, q) in lots(h.quantity, h.broker_lots).into_iter().enumerate() {
                let q = Decimal::from(q);
                book.positions.push(PositionRow {
                    broker: Broker::Tradezero,
                    account_id: id.as_str().into(),
                    position_id: format!("{at_broker}#{n}").into(),
                    symbol: at_broker.as_str().into(),
                    underlying: at_broker.as_str().into(),
                    instrument: Instrument::Equity,
                    put_call: None,
                    strike: None,
                    expires_at: None,
                    quantity: q,
                    side: None,
                    multiplier,
                    avg_price: None,
                    mark: Some(price),
                    close_price: None,
                    market_value: Some(q * price * multiplier),
                    net_liq_value: Some(q * price * multiplier),
                    cost_basis: None,
                    unrealized_pnl: None,
                    pnl_expected: false,
                    updated_at: None,
                    cusip: broker_cusip.as_deref().map(Into::into),
                });
            }
            let first = planted && j == 0;
            if first && plant == Plant::PositionNotBooked {
                continue;
            }
            for (n, q) in lots(h.quantity, h.book_lots).into_iter().enumerate() {
                let mut q = Decimal::from(q);
                let mut value = q * price * multiplier;
                let mut booked_price = price;
                if first && n == 0 {
                    match plant {
                        Plant::Quantity => {
                            q += if q.is_sign_negative() {
                                -Decimal::ONE
                            } else {
                                Decimal::ONE
                            }
                        }
                        Plant::Price => booked_price += Decimal::ONE,
                        Plant::Value => value += value.abs() / Decimal::TEN + Decimal::from(1000),
                        _ => {}
                    }
                }
                if first && plant == Plant::Sign {
                    q = -q;
                }
                record.positions.push(BookPositionRow {
                    book: "prop".into(),
                    broker: Broker::Tradezero,
                    account_id: id.clone(),
                    instrument_key: instrument_key(&in_books, as_of()),
                    symbol: in_books.clone(),
                    quantity: q,
                    price: Some(booked_price),
                    market_value: Some(value),
                    cost_basis: None,
                    currency: "USD".into(),
                    as_of: as_of(),
                    cusip: book_cusip.clone(),
                });
            }
        }
        if planted && plant == Plant::BookedNotHeld {
            record.positions.push(BookPositionRow {
                book: "prop".into(),
                broker: Broker::Tradezero,
                account_id: id.clone(),
                instrument_key: instrument_key("ZZNOT", as_of()),
                symbol: "ZZNOT".into(),
                quantity: Decimal::from(7),
                price: None,
                market_value: None,
                cost_basis: None,
                currency: "USD".into(),
                as_of: as_of(),
                cusip: None,
            });
        }
    }
    (book, record)
}

/// The `books` pack's findings: (rule, account).
fn findings(book: &Book, record: &BookRows) -> BTreeSet<(String, String)> {
    let frames = build_frames(book, &BTreeSet::new(), &[]).unwrap();
    let mut views = Views::build(&frames, as_of()).unwrap();
    views
        .add_books(&BookFrames::build(record).unwrap(), as_of())
        .unwrap();
    let pack = builtin_pack("books").unwrap().unwrap();
    let rules = compile(std::slice::from_ref(&pack), &views).unwrap();
    let eval = evaluate(&rules, &views);
    for s in &eval.stats {
        assert!(s.error.is_none(), "{}: {:?}", s.rule, s.error);
    }
    eval.findings
        .iter()
        .map(|f| (f.rule.clone(), f.account.clone().unwrap_or_default()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_same_holdings_spelled_and_split_differently_give_no_finding(
        accounts in prop::collection::vec(prop::collection::vec(holding(), 1..5), 1..4)
    ) {
        let (book, record) = build(&accounts, Plant::None);
        let got = findings(&book, &record);
        prop_assert!(got.is_empty(), "{:?}", got);
    }

    #[test]
    fn one_planted_break_gives_exactly_one_finding_of_its_rule(
        accounts in prop::collection::vec(prop::collection::vec(holding(), 1..5), 1..4),
        plant in prop_oneof![
            Just(Plant::PositionNotBooked), Just(Plant::BookedNotHeld), Just(Plant::Quantity),
            Just(Plant::Sign), Just(Plant::Price), Just(Plant::Value), Just(Plant::Cash),
        ],
    ) {
        let rule = match plant {
            Plant::PositionNotBooked => "book-position-missing",
            Plant::BookedNotHeld => "broker-position-missing",
            Plant::Quantity => "book-quantity-break",
            Plant::Sign => "book-sign-break",
            Plant::Price => "book-price-break",
            Plant::Value => "book-value-break",
            Plant::Cash => "book-cash-break",
            Plant::None => unreachable!(),
        };
        let (book, record) = build(&accounts, plant);
        let got = findings(&book, &record);
        let want = BTreeSet::from([(rule.to_string(), "TZ0000".to_string())]);
        prop_assert_eq!(got, want);
    }
}

/// A book that names accounts as people do (E*TRADE's `accountId`, an Architect account's
/// name) meets the broker's account under its id; a name two accounts share names neither.
#[test]
fn a_book_naming_accounts_by_their_names_matches_the_ids() {
    let accounts = vec![vec![Holding {
        kind: Kind::Equity,
        quantity: 10,
        price_cents: 1000,
        broker_lots: 1,
        book_lots: 1,
    }]];
    let (mut book, mut record) = build(&accounts, Plant::None);
    book.accounts[0].account_name = Some("84010429".into());
    for p in &mut record.positions {
        p.account_id = "84010429".into();
    }
    for c in &mut record.cash {
        c.account_id = "84010429".into();
    }
    assert!(findings(&book, &record).is_empty());

    // Two accounts with that name: the book's rows name neither, so they are unbooked at
    // one account and missing at the other, never silently matched.
    let mut twin = book.accounts[0].clone();
    twin.account_id = "TZ9999".into();
    book.accounts.push(twin);
    let got = findings(&book, &record);
    assert!(
        got.contains(&(
            "broker-position-missing".to_string(),
            "84010429".to_string()
        )),
        "{got:?}"
    );
}

/// Where both sides state a CUSIP it decides: the same symbol under another CUSIP is
/// another security (the broker's unbooked, the book's not held), never matched by the
/// symbol; the right CUSIP under another symbol is the same security.
#[test]
fn where_both_sides_state_a_cusip_it_decides_over_the_symbol() {
    let accounts = vec![vec![Holding {
        kind: Kind::Renamed,
        quantity: 10,
        price_cents: 1000,
        broker_lots: 1,
        book_lots: 2,
    }]];
    let (book, mut record) = build(&accounts, Plant::None);
    assert_ne!(book.positions[0].symbol, record.positions[0].symbol);
    assert!(findings(&book, &record).is_empty());

    let other = cusip_of(Kind::Equity, 999);
    for p in &mut record.positions {
        p.symbol = book.positions[0].symbol.to_string();
        p.instrument_key = instrument_key(&p.symbol, as_of());
        p.cusip = Some(other.clone());
    }
    let got = findings(&book, &record);
    let want = BTreeSet::from([
        ("book-position-missing".to_string(), "TZ0000".to_string()),
        ("broker-position-missing".to_string(), "TZ0000".to_string()),
    ]);
    assert_eq!(got, want);
}
