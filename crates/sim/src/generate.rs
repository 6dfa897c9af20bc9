//! The seeded book generator: accounts and positions that add up in exact decimals, with
//! breaks of the core rules planted at a chosen rate, near misses that must not fire, and the
//! ground truth of exactly which findings the book must produce.
//!
//! Each account is generated from its own ChaCha stream (`seed`, account index), so one
//! account can be rebuilt without the others and the same seed always gives the same book.

use crate::book::{ClosedLot, OrphanPnl, SimAccount, SimBook, SimPosition};
use chrono::{Duration, NaiveDate};
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use recon_model::occ::OccSymbol;
use recon_model::{AccountKind, AccountStatus, Broker, PutCall};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenSpec {
    pub seed: u64,
    pub accounts: usize,
    pub positions_per_account: usize,
    pub as_of: NaiveDate,
    /// Share of accounts with one planted break (0 to 1); as many get a near miss.
    pub break_rate: f64,
    /// Brokers the accounts are spread over, round robin.
    pub brokers: Vec<Broker>,
}

impl GenSpec {
    pub fn new(seed: u64, accounts: usize, positions_per_account: usize, as_of: NaiveDate) -> Self {
        GenSpec {
            seed,
            accounts,
            positions_per_account,
            as_of,
            break_rate: 0.0,
            brokers: Broker::ALL.to_vec(),
        }
    }
}

/// One finding the book must produce (the `expected.json` ground truth).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Expected {
    pub rule: String,
    pub broker: String,
    pub account: String,
    pub position: Option<String>,
    /// `new` for a failure, `unknown` where a check cannot be decided.
    pub status: String,
    pub severity: String,
}

/// The breaks the generator can plant, one per broken account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// The reported account value is off by more than the tolerance.
    ValueIdentity,
    /// A lot is missing from the P&L feed (the account value becomes unknown too).
    PnlMissing,
    /// The P&L feed has exposure for a lot the positions do not have.
    PnlOrphan,
    /// A short option expires within the warning window.
    OptionExpiring,
    /// An option past its expiry is still held.
    OptionExpired,
}

const BREAKS: [Break; 5] = [
    Break::ValueIdentity,
    Break::PnlMissing,
    Break::PnlOrphan,
    Break::OptionExpiring,
    Break::OptionExpired,
];

/// Near misses: each sits just inside a rule's bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NearMiss {
    /// Off by 4.99 against a tolerance of at least 5.00.
    ValueWithinTolerance,
    /// A short option expiring one day after the warning window.
    ExpiringAfterWindow,
    /// A lot closed today: a P&L row with exposure 0 and no position.
    ClosedToday,
}

const NEAR_MISSES: [NearMiss; 3] = [
    NearMiss::ValueWithinTolerance,
    NearMiss::ExpiringAfterWindow,
    NearMiss::ClosedToday,
];

/// The option warning window of the core pack (`expiry_warn_days`).
pub const EXPIRY_WARN_DAYS: i64 = 7;

const TICKERS: [&str; 24] = [
    "AAPL", "MSFT", "NVDA", "AMZN", "META", "GOOGL", "TSLA", "AMD", "NFLX", "INTC", "F", "SPY",
    "QQQ", "IWM", "JPM", "BAC", "XOM", "KO", "PEP", "DIS", "UBER", "PLTR", "SOFI", "T",
];

/// The CUSIP of each ticker the generator uses (the issuers' own), which E*TRADE's Complete
/// view states and the book of record carries.
const CUSIPS: [(&str, &str); 24] = [
    ("AAPL", "037833100"),
    ("MSFT", "594918104"),
    ("NVDA", "67066G104"),
    ("AMZN", "023135106"),
    ("META", "30303M102"),
    ("GOOGL", "02079K305"),
    ("TSLA", "88160R101"),
    ("AMD", "007903107"),
    ("NFLX", "64110L106"),
    ("INTC", "458140100"),
    ("F", "345370860"),
    ("SPY", "78462F103"),
    ("QQQ", "46090E103"),
    ("IWM", "464287655"),
    ("JPM", "46625H100"),
    ("BAC", "060505104"),
    ("XOM", "30231G102"),
    ("KO", "191216100"),
    ("PEP", "713448108"),
    ("DIS", "254687106"),
    ("UBER", "90353T100"),
    ("PLTR", "69608A108"),
    ("SOFI", "83406F102"),
    ("T", "00206R102"),
];

/// The CUSIP of a generated equity symbol (any case), if it has one.
pub fn cusip_of(symbol: &str) -> Option<&'static str> {
    CUSIPS
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(symbol))
        .map(|(_, c)| *c)
}

fn cents(rng: &mut ChaCha8Rng, low: i64, high: i64) -> Decimal {
    Decimal::new(rng.random_range(low * 100..high * 100), 2)
}

/// An account id in the broker's own form: TradeZero `TZ…`/`TZP…`, tastytrade account
/// numbers, Clear Street int64s, E*TRADE opaque `accountIdKey`s, Architect UUIDs.
fn account_id(broker: Broker, index: usize, paper: bool) -> String {
    match broker {
        Broker::Tradezero if paper => format!("TZP{:08}", 20_000_000 + index),
        Broker::Tradezero => format!("TZ{:08}", 10_000_000 + index),
        Broker::Tastytrade => format!("5W{index:06}"),
        Broker::Clearstreet => (100_000 + index).to_string(),
        Broker::Etrade => format!("EtK{index:019}"),
        Broker::Architect => format!("0a7c{:04x}-0000-4000-8000-{index:012x}", index % 0xffff),
    }
}

/// Futures the generator holds at Architect: root and a price level.
const FUTURES: [(&str, i64); 8] = [
    ("ES", 6400),
    ("MES", 6400),
    ("NQ", 21000),
    ("CL", 70),
    ("MCL", 70),
    ("GC", 3300),
    ("MGC", 3300),
    ("ZN", 110),
];

/// The per-account random stream.
fn stream(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}

struct AccountGen<'a> {
    spec: &'a GenSpec,
    rng: ChaCha8Rng,
    index: usize,
    next_lot: u64,
    broker: Broker,
    /// Symbols already held: brokers other than TradeZero and Architect report one row
    /// per instrument, so the generator never gives them two lots of one symbol.
    held: std::collections::HashSet<String>,
}

impl AccountGen<'_> {
    /// Numeric-looking strings, as TradeZero's positionId, unique in the book.
    fn lot_id(&mut self) -> String {
        self.next_lot += 1;
        (2_261_120_000_000_000u64 + self.index as u64 * 100_000 + self.next_lot).to_string()
    }

    fn option(&mut self, days: i64, put_call: PutCall, quantity: Decimal) -> SimPosition {
        let root = TICKERS[self.rng.random_range(0..TICKERS.len())];
        let strike = Decimal::from(self.rng.random_range(10..800))
            + Decimal::new(5, 1) * Decimal::from(self.rng.random_range(0..2));
        let expiry = self.spec.as_of + Duration::days(days);
        let occ =
            OccSymbol::new(root, expiry, put_call, strike).expect("generated options are valid");
        let mark = cents(&mut self.rng, 0, 40);
        SimPosition {
            id: self.lot_id(),
            symbol: occ.compact(),
            quantity,
            avg_price: cents(&mut self.rng, 0, 40),
            mark,
            pnl_missing: false,
            malformed: false,
            day_pnl: Decimal::ZERO,
            maintenance_requirement: Decimal::ZERO,
        }
    }

    fn equity(&mut self) -> SimPosition {
        let symbol = TICKERS[self.rng.random_range(0..TICKERS.len())].to_string();
        // 1 in 20 lots is fractional (dividend reinvestment); 1 in 6 is short.
        let mut quantity = if self.rng.random_ratio(1, 20) {
            Decimal::new(self.rng.random_range(1..100_000), 4)
        } else {
            Decimal::from(self.rng.random_range(1..500))
        };
        if self.rng.random_ratio(1, 6) {
            quantity = -quantity;
        }
        SimPosition {
            id: self.lot_id(),
            symbol,
            quantity,
            avg_price: cents(&mut self.rng, 5, 900),
            mark: cents(&mut self.rng, 5, 900),
            pnl_missing: false,
            malformed: false,
            day_pnl: cents(&mut self.rng, -50, 50),
            maintenance_requirement: Decimal::ZERO,
        }
    }

    /// A futures lot (Architect): a known root, a price near its level, months out.
    fn future(&mut self) -> SimPosition {
        let (root, level) = FUTURES[self.rng.random_range(0..FUTURES.len())];
        let venue = recon_model::contracts::spec(root).map_or("CME", |s| s.exchange);
        let expiry = self.spec.as_of + Duration::days(self.rng.random_range(20..400));
        let price = |rng: &mut ChaCha8Rng| {
            let cents = level * 100;
            Decimal::new(
                cents + rng.random_range(-(cents / 30).max(1)..=(cents / 30).max(1)),
                2,
            )
        };
        let quantity = Decimal::from(self.rng.random_range(1..6))
            * if self.rng.random_ratio(1, 3) {
                Decimal::NEGATIVE_ONE
            } else {
                Decimal::ONE
            };
        SimPosition {
            id: self.lot_id(),
            symbol: format!("{root} {} {venue} Future", expiry.format("%Y%m%d")),
            quantity,
            avg_price: price(&mut self.rng),
            mark: price(&mut self.rng),
            pnl_missing: false,
            malformed: false,
            day_pnl: Decimal::ZERO,
            maintenance_requirement: Decimal::ZERO,
        }
    }

    /// A tastytrade future (`/ESZ7`) a year out, or 1 in 2 times an option on one
    /// (`./ESZ7 ESOZ7 270315P6400`, strike as written: `C1.225` for the euro).
    fn tasty_future(&mut self) -> SimPosition {
        use chrono::Datelike;
        // Root, price level in ten-thousandths (6E trades near 1.1000).
        const ROOTS: [(&str, i64); 6] = [
            ("ES", 64_000_000),
            ("MES", 64_000_000),
            ("NQ", 210_000_000),
            ("CL", 700_000),
            ("GC", 33_000_000),
            ("6E", 11_000),
        ];
        let (root, level) = ROOTS[self.rng.random_range(0..ROOTS.len())];
        let code = ['H', 'M', 'U', 'Z'][self.rng.random_range(0..4)];
        let future = format!("/{root}{code}{}", (self.spec.as_of.year() + 1) % 10);
        let near = |rng: &mut ChaCha8Rng, level: i64| {
            Decimal::new(level + rng.random_range(-(level / 30)..=level / 30), 4)
        };
        let quantity = Decimal::from(self.rng.random_range(1..5))
            * if self.rng.random_ratio(1, 3) {
                Decimal::NEGATIVE_ONE
            } else {
                Decimal::ONE
            };
        let (symbol, avg_price, mark) = if self.rng.random_bool(0.5) {
            let price = near(&mut self.rng, level);
            (future, price, near(&mut self.rng, level))
        } else {
            // Well past the expiry window, so no rule fires on it.
            let expiry = self.spec.as_of + Duration::days(self.rng.random_range(30..300));
            let put_call = if self.rng.random_bool(0.5) { 'C' } else { 'P' };
            let strike = near(&mut self.rng, level).round_dp(if root == "6E" { 3 } else { 0 });
            let premium =
                |rng: &mut ChaCha8Rng| Decimal::new(rng.random_range(level / 400..level / 40), 4);
            let symbol = format!(
                ".{future} {root}O{} {}{put_call}{}",
                &future[future.len() - 2..],
                expiry.format("%y%m%d"),
                strike.normalize()
            );
            (symbol, premium(&mut self.rng), premium(&mut self.rng))
        };
        SimPosition {
            id: self.lot_id(),
            symbol,
            quantity,
            avg_price,
            mark,
            pnl_missing: false,
            malformed: false,
            day_pnl: Decimal::ZERO,
            maintenance_requirement: Decimal::ZERO,
        }
    }

    /// `make` again until its symbol is not held yet (where the broker needs that).
    fn fresh(&mut self, make: impl Fn(&mut Self) -> SimPosition) -> SimPosition {
        let mut p = make(self);
        if matches!(self.broker, Broker::Tradezero | Broker::Architect) {
            return p;
        }
        for _ in 0..50 {
            if !self.held.contains(&p.symbol) {
                break;
            }
            p = make(self);
        }
        self.held.insert(p.symbol.clone());
        p
    }

    /// An ordinary open position: an equity, or an option well away from expiry; a future
    /// at Architect.
    fn ordinary(&mut self) -> SimPosition {
        if self.broker == Broker::Architect {
            return self.future();
        }
        if self.broker == Broker::Tastytrade && self.rng.random_ratio(1, 8) {
            return self.fresh(Self::tasty_future);
        }
        self.fresh(Self::ordinary_security)
    }

    fn ordinary_security(&mut self) -> SimPosition {
        if self.rng.random_ratio(1, 4) {
            let days = self.rng.random_range(EXPIRY_WARN_DAYS + 2..400);
            let pc = if self.rng.random_bool(0.5) {
                PutCall::Call
            } else {
                PutCall::Put
            };
            let qty = Decimal::from(self.rng.random_range(1..20));
            let qty = if self.rng.random_ratio(1, 3) {
                -qty
            } else {
                qty
            };
            self.option(days, pc, qty)
        } else {
            self.equity()
        }
    }
}

/// Generates the whole book and its ground truth.
pub fn generate(spec: &GenSpec) -> (SimBook, Vec<Expected>) {
    let mut accounts = Vec::with_capacity(spec.accounts);
    let mut expected = Vec::new();
    for i in 0..spec.accounts {
        let (account, mut truth) = generate_account(spec, i);
        accounts.push(account);
        expected.append(&mut truth);
    }
    expected.sort();
    (
        SimBook {
            as_of: spec.as_of,
            accounts,
        },
        expected,
    )
}

/// Plants `planted` in `account`; the findings it must give go to `truth`.
fn plant_break(
    g: &mut AccountGen,
    account: &mut SimAccount,
    planted: Break,
    paper: bool,
    truth: &mut Vec<Expected>,
) {
    let (broker, id) = (account.broker, account.id.clone());
    let mut expect = |rule: &str, position: Option<&str>, status: &str, severity: &str| {
        truth.push(Expected {
            rule: rule.to_string(),
            broker: broker.to_string(),
            account: id.clone(),
            position: position.map(str::to_string),
            status: status.to_string(),
            severity: severity.to_string(),
        });
    };
    match planted {
        Break::ValueIdentity => {
            // Beyond max(5.00, 0.001 × |net liq|) whatever the sign: 0.2% of the true value
            // plus 5.01 exceeds the tolerance computed on the reported value.
            let true_value = account.true_net_liq().abs();
            let off = (true_value * Decimal::new(2, 3)).round_dp(2) + Decimal::new(501, 2);
            account.net_liq_adjust = if g.rng.random_bool(0.5) { off } else { -off };
            expect("account-value-identity", None, "new", "error");
        }
        Break::PnlMissing => {
            let lot = g.ordinary();
            let severity = if paper { "warning" } else { "error" };
            expect("pnl-coverage", Some(&lot.id), "new", severity);
            expect("account-value-identity", None, "unknown", "error");
            account.positions.push(SimPosition {
                pnl_missing: true,
                ..lot
            });
            // The extra lot may be a large short: the account stays worth at least 50,000,
            // as every generated account is, or margin rules fire where nothing was planted
            // (seed 15332805494337166050 in tests/generated.proptest-regressions).
            let value: Decimal = account
                .positions
                .iter()
                .map(SimPosition::net_liq_value)
                .sum();
            account.cash = account.cash.max(Decimal::from(50_000) - value);
        }
        Break::PnlOrphan => {
            let lot = g.lot_id();
            let exposure = cents(&mut g.rng, 1, 50_000);
            expect("pnl-orphan", Some(&lot), "new", "error");
            account.orphan_pnl.push(OrphanPnl {
                id: lot,
                symbol: TICKERS[g.rng.random_range(0..TICKERS.len())].to_string(),
                exposure,
                unrealized_pnl: Decimal::ZERO,
            });
        }
        Break::OptionExpiring => {
            let days = g.rng.random_range(0..=EXPIRY_WARN_DAYS);
            let quantity = Decimal::from(-g.rng.random_range(1..10));
            let lot = g.fresh(|g| g.option(days, PutCall::Put, quantity));
            let position = crate::position_id(account, &lot);
            expect("option-expiring", Some(&position), "new", "error");
            account.positions.push(lot);
        }
        Break::OptionExpired => {
            let days = -g.rng.random_range(1..30);
            let quantity = Decimal::from(g.rng.random_range(1..10));
            // Worthless and still on the books, with a zero P&L row: only the expiry fires.
            let lot = SimPosition {
                mark: Decimal::ZERO,
                ..g.fresh(|g| g.option(days, PutCall::Call, quantity))
            };
            let position = crate::position_id(account, &lot);
            expect("option-expired", Some(&position), "new", "error");
            account.positions.push(lot);
        }
    }
}

/// Plants a near miss in `account`: just inside a rule's bound, so no finding.
fn plant_near_miss(g: &mut AccountGen, account: &mut SimAccount, near_miss: NearMiss) {
    match near_miss {
        NearMiss::ValueWithinTolerance => {
            let off = Decimal::new(499, 2);
            account.net_liq_adjust = if g.rng.random_bool(0.5) { off } else { -off };
        }
        NearMiss::ExpiringAfterWindow => {
            let lot = g.fresh(|g| g.option(EXPIRY_WARN_DAYS + 1, PutCall::Put, Decimal::from(-1)));
            account.positions.push(lot);
        }
        NearMiss::ClosedToday => {
            let lot = g.lot_id();
            account.closed_today.push(ClosedLot {
                id: lot,
                symbol: TICKERS[g.rng.random_range(0..TICKERS.len())].to_string(),
                realized_pnl: cents(&mut g.rng, -500, 500),
            });
        }
    }
}

/// Generates account `index` alone: the same account whatever the other accounts are.
pub fn generate_account(spec: &GenSpec, index: usize) -> (SimAccount, Vec<Expected>) {
    let mut rng = stream(spec.seed, index);
    let broker = spec.brokers[index % spec.brokers.len().max(1)];
    // Paper accounts exist at TradeZero and Architect only.
    let paper = rng.random_ratio(1, 10) && matches!(broker, Broker::Tradezero | Broker::Architect);
    let kind = if paper {
        AccountKind::Paper
    } else if broker == Broker::Architect {
        AccountKind::Futures
    } else if rng.random_ratio(1, 4) {
        AccountKind::Cash
    } else {
        AccountKind::Margin
    };
    let id = account_id(broker, index, paper);
    let cash = cents(&mut rng, 1_000, 2_000_000);
    // 1 in 30 accounts is closed (no rule applies to it: no break goes there); 1 in 20 of
    // the others is empty.
    let closed = rng.random_ratio(1, 30);
    let empty = !closed && rng.random_ratio(1, 20);
    let roll: f64 = rng.random();
    // P&L-feed breaks exist only where there is a P&L feed (TradeZero); Architect holds
    // futures only, so only its value can break.
    let breaks: &[Break] = match broker {
        Broker::Tradezero => &BREAKS,
        Broker::Architect => &[Break::ValueIdentity],
        _ => &[
            Break::ValueIdentity,
            Break::OptionExpiring,
            Break::OptionExpired,
        ],
    };
    let near_misses: &[NearMiss] = match broker {
        Broker::Tradezero => &NEAR_MISSES,
        Broker::Architect => &[NearMiss::ValueWithinTolerance],
        _ => &NEAR_MISSES[..2],
    };
    let planted =
        (!closed && roll < spec.break_rate).then(|| breaks[rng.random_range(0..breaks.len())]);
    let near_miss = (!closed && planted.is_none() && roll < 2.0 * spec.break_rate)
        .then(|| near_misses[rng.random_range(0..near_misses.len())]);

    let mut g = AccountGen {
        spec,
        rng,
        index,
        next_lot: 0,
        broker,
        held: Default::default(),
    };
    let count = if closed || empty {
        0
    } else {
        spec.positions_per_account
    };
    let positions: Vec<SimPosition> = (0..count).map(|_| g.ordinary()).collect();
    // Enough cash that the account is worth something whatever its shorts and losses, so
    // margin rules never fire where no break was planted (a planted option adds at most
    // 10 × 40 × 100 = 40,000 of short value).
    let value: Decimal = positions.iter().map(SimPosition::net_liq_value).sum();
    let cash = cash.max(Decimal::from(50_000) - value);
    let mut account = SimAccount {
        broker,
        id: id.clone(),
        name: Some(format!("Generated {index}")),
        kind,
        status: if closed {
            AccountStatus::Closed
        } else {
            AccountStatus::Active
        },
        options_level: Some(3),
        cash,
        buying_power: None,
        net_liq_adjust: Decimal::ZERO,
        closed_today: Vec::new(),
        orphan_pnl: Vec::new(),
        positions,
    };

    let mut truth = Vec::new();
    if let Some(planted) = planted {
        plant_break(&mut g, &mut account, planted, paper, &mut truth);
    }
    if let Some(near_miss) = near_miss {
        plant_near_miss(&mut g, &mut account, near_miss);
    }
    (account, truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> GenSpec {
        GenSpec {
            break_rate: 0.5,
            ..GenSpec::new(seed, 40, 8, NaiveDate::from_ymd_opt(2026, 11, 20).unwrap())
        }
    }

    #[test]
    fn every_ticker_has_a_valid_cusip_of_its_own() {
        let mut seen = std::collections::HashSet::new();
        for t in TICKERS {
            let c = cusip_of(t).unwrap_or_else(|| panic!("{t} has no CUSIP"));
            assert_eq!(recon_model::security_id::cusip(c).as_deref(), Ok(c), "{t}");
            assert!(seen.insert(c), "{t} shares {c}");
        }
        assert_eq!(cusip_of("aapl"), Some("037833100"));
        assert_eq!(cusip_of("ZZB1"), None);
    }

    #[test]
    fn books_hold_futures_and_futures_options_with_real_multipliers() {
        let (book, _) = generate(&GenSpec {
            brokers: vec![Broker::Tastytrade, Broker::Architect],
            ..GenSpec::new(3, 40, 20, NaiveDate::from_ymd_opt(2026, 11, 20).unwrap())
        });
        let positions: Vec<&SimPosition> =
            book.accounts.iter().flat_map(|a| &a.positions).collect();
        assert!(positions.iter().any(|p| p.is_future_option()));
        assert!(positions.iter().any(|p| p.symbol.starts_with('/')));
        assert!(positions.iter().any(|p| p.symbol.ends_with(" Future")));
        let multipliers: std::collections::BTreeSet<String> = positions
            .iter()
            .filter(|p| p.future().is_some())
            .map(|p| p.multiplier().normalize().to_string())
            .collect();
        for m in ["5", "10", "50", "100", "1000", "125000"] {
            assert!(
                multipliers.contains(m),
                "no multiplier {m}: {multipliers:?}"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_book() {
        assert_eq!(generate(&spec(7)), generate(&spec(7)));
        assert_ne!(generate(&spec(7)).0, generate(&spec(8)).0);
    }

    #[test]
    fn an_account_does_not_depend_on_the_others() {
        let (book, _) = generate(&spec(7));
        let small = GenSpec {
            accounts: 5,
            ..spec(7)
        };
        assert_eq!(generate_account(&small, 3).0, book.accounts[3]);
    }

    #[test]
    fn breaks_are_planted_with_their_truth() {
        let (book, expected) = generate(&spec(11));
        assert!(!expected.is_empty());
        for e in &expected {
            assert!(book.accounts.iter().any(|a| a.id == e.account), "{e:?}");
        }
        let rules: std::collections::BTreeSet<&str> =
            expected.iter().map(|e| e.rule.as_str()).collect();
        assert!(rules.len() >= 4, "{rules:?}");
        // No planted break: no expected finding.
        let (_, clean) = generate(&GenSpec {
            break_rate: 0.0,
            ..spec(11)
        });
        assert!(clean.is_empty());
    }
}
