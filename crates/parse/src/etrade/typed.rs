//! E*TRADE v1 portfolio pages in their usual shape, read in one pass straight into the
//! fields the reader asks for: keys matched case-insensitively as the tree reader matches
//! them, numbers kept as their text, strings borrowed from the page. The tree (quoting every
//! number, then a node per value, then a scan of an object's keys per field asked) was most
//! of E*TRADE's reading and E*TRADE the costliest broker per byte.
//!
//! Anything else in a page's shape (a key given twice, in any casing; a list of something
//! other than objects; an object or list where a value should be; no `PortfolioResponse`)
//! makes [`page`] give up, and the tree reader, which survives all of that, reads the page
//! instead. Wherever this reading succeeds it gives the same rows and notes as the tree's
//! (the tests below hold them to that, on the fixtures and on generated pages).

use super::{Fields, PositionFields};
use crate::tree::{Key, Node};
use serde::de::{
    self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
    value::MapAccessDeserializer,
};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// The names of an object's values the reader asks for, in lower case.
pub(super) trait Names<const N: usize> {
    const NAMES: [&'static str; N];
}

/// A position's values.
pub(super) struct PositionNames;
impl Names<10> for PositionNames {
    const NAMES: [&'static str; 10] = [
        "positionid",
        "osikey",
        "quantity",
        "positiontype",
        "costpershare",
        "pricepaid",
        "price",
        "marketvalue",
        "totalcost",
        "totalgain",
    ];
}

/// A product's.
pub(super) struct ProductNames;
impl Names<8> for ProductNames {
    const NAMES: [&'static str; 8] = [
        "symbol",
        "securitytype",
        "typecode",
        "callput",
        "expiryyear",
        "expirymonth",
        "expiryday",
        "strikeprice",
    ];
}

/// A quote view's.
pub(super) struct ViewNames;
impl Names<3> for ViewNames {
    const NAMES: [&'static str; 3] = ["lasttrade", "optionmultiplier", "cusip"];
}

/// A position's quote views, which may carry `lastTrade`.
const VIEWS: [&str; 5] = [
    "quick",
    "complete",
    "performance",
    "fundamental",
    "optionswatch",
];

/// An `AccountPortfolio`'s keys that are read or known to hold no positions.
const ACCOUNT_KNOWN: [&str; 5] = [
    "accountid",
    "totalpages",
    "totalnoofpages",
    "nextpageno",
    "next",
];

/// A v1 page: the lists under keys the reader does not know, and the accounts.
pub(super) struct Page<'a> {
    pub unknown: Vec<Cow<'a, str>>,
    pub accounts: Vec<Account<'a>>,
}

/// One `AccountPortfolio`: the lists under keys the reader does not know, and the positions.
pub(super) struct Account<'a> {
    pub unknown: Vec<Cow<'a, str>>,
    pub positions: Vec<Position<'a>>,
}

/// A position: its values inline, its product, and its quote views boxed (a page holds
/// a hundred positions and most have one view: kept small, they are moved cheaply).
pub(super) struct Position<'a> {
    values: Object<'a, 10, PositionNames>,
    product: Option<Object<'a, 8, ProductNames>>,
    views: [Option<Box<Object<'a, 3, ViewNames>>>; VIEWS.len()],
}

/// An object's values under `K`'s names, each as the tree holds it (null or absent: `None`).
pub(super) struct Object<'a, const N: usize, K> {
    values: [Option<Node<'a>>; N],
    names: PhantomData<K>,
}

/// The page read from its JSON text, or `None` when it is not in the usual v1 shape.
pub(super) fn page(text: &str) -> Option<Page<'_>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let root = Root::deserialize(&mut de).ok()?;
    de.end().ok()?;
    root.0
}

/// Where `key` is in `names`, matched as the tree reader matches keys.
fn slot(key: &str, names: &[&str]) -> Option<usize> {
    names.iter().position(|n| key.eq_ignore_ascii_case(n))
}

impl<'a, const N: usize, K: Names<N>> Fields<'a> for Object<'a, N, K> {
    fn get(&self, key: &str) -> Option<&Node<'a>> {
        let i = slot(key, &K::NAMES);
        debug_assert!(i.is_some(), "`{key}` is not read typed here");
        self.values[i?].as_ref()
    }
}

impl<'a> Fields<'a> for Position<'a> {
    fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.values.get(key)
    }
}

impl<'a> PositionFields<'a> for Position<'a> {
    type Product = Object<'a, 8, ProductNames>;
    type View = Object<'a, 3, ViewNames>;
    fn product(&self) -> Option<&Self::Product> {
        self.product.as_ref()
    }
    fn view(&self, name: &str) -> Option<&Self::View> {
        let i = slot(name, &VIEWS);
        debug_assert!(i.is_some(), "`{name}` is not a quote view");
        self.views[i?].as_deref()
    }
}

/// A value as the tree holds it: a number as its text, a string (borrowed when it has no
/// escape), a boolean; null as `None`. An object or a list is refused.
struct Scalar<'a>(Option<Node<'a>>);

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?.get();
        let node = match raw.as_bytes().first() {
            Some(b'"') => {
                let inner = &raw[1..raw.len() - 1];
                if inner.contains('\\') {
                    let s: String = serde_json::from_str(raw).map_err(de::Error::custom)?;
                    Some(Node::Str(Cow::Owned(s)))
                } else {
                    Some(Node::Str(Cow::Borrowed(inner)))
                }
            }
            Some(b'-' | b'0'..=b'9') => Some(Node::Str(Cow::Borrowed(raw))),
            Some(b't') => Some(Node::Bool(true)),
            Some(b'f') => Some(Node::Bool(false)),
            Some(b'n') => None,
            _ => {
                return Err(de::Error::custom(
                    "an object or a list where a value is read",
                ));
            }
        };
        Ok(Scalar(node))
    }
}

/// Marks `i` seen, or fails on a key met twice (in any casing): the tree keeps the first
/// key's place, which this reading does not try to follow.
fn first_time<E: de::Error>(seen: &mut u32, i: usize) -> Result<(), E> {
    let bit = 1 << i;
    if *seen & bit != 0 {
        return Err(E::custom("a key met twice"));
    }
    *seen |= bit;
    Ok(())
}

/// An unknown key's value: noted as a list when it is one (or an object), as the tree
/// reader notes it; the same key twice fails.
fn unknown<'de, M: MapAccess<'de>>(
    map: &mut M,
    key: Cow<'de, str>,
    lists: &mut Vec<Cow<'de, str>>,
) -> Result<(), M::Error> {
    let raw = map.next_value::<&'de RawValue>()?.get();
    if raw.starts_with(['[', '{']) {
        if lists.contains(&key) {
            return Err(de::Error::custom("a key met twice"));
        }
        lists.push(key);
    }
    Ok(())
}

/// A list sent as a list, as one bare object, or as null (none).
struct OneOrMany<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list, an object or null")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(OneOrMany(Vec::new()))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OneOrMany(items))
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|one| OneOrMany(vec![one]))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// Writes the `Deserialize` of a type read from a JSON object by a `visit_map` function.
macro_rules! from_object {
    ($ty:ident, $what:literal, $visit:ident) => {
        impl<'de> Deserialize<'de> for $ty<'de> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty<'de>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<$ty<'de>, M::Error> {
                        $visit(map)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

/// The page's root: its `PortfolioResponse` (other keys are not read, as by the tree).
struct Root<'a>(Option<Page<'a>>);
from_object!(Root, "a page", visit_root);

fn visit_root<'de, M: MapAccess<'de>>(mut map: M) -> Result<Root<'de>, M::Error> {
    let mut page = None;
    while let Some(Key(key)) = map.next_key()? {
        if key.eq_ignore_ascii_case("portfolioresponse") {
            if page.is_some() {
                return Err(de::Error::custom("a key met twice"));
            }
            page = Some(map.next_value::<Page>()?);
        } else {
            map.next_value::<IgnoredAny>()?;
        }
    }
    Ok(Root(page))
}

from_object!(Page, "a PortfolioResponse", visit_page);

fn visit_page<'de, M: MapAccess<'de>>(map: M) -> Result<Page<'de>, M::Error> {
    let (accounts, unknown) = list_in(map, "accountportfolio", &["totals"])?;
    Ok(Page { unknown, accounts })
}

from_object!(Account, "an AccountPortfolio", visit_account);

fn visit_account<'de, M: MapAccess<'de>>(map: M) -> Result<Account<'de>, M::Error> {
    let (positions, unknown) = list_in(map, "position", &ACCOUNT_KNOWN)?;
    Ok(Account { unknown, positions })
}

/// An object's list, and the keys of its lists under unknown names.
type Listed<'de, T> = (Vec<T>, Vec<Cow<'de, str>>);

/// The list under `key` of an object (one or many, or none), and the keys of the lists
/// under names neither `key` nor `known`.
fn list_in<'de, M: MapAccess<'de>, T: Deserialize<'de>>(
    mut map: M,
    key: &str,
    known: &[&str],
) -> Result<Listed<'de, T>, M::Error> {
    let (mut list, mut unknown_lists, mut seen) = (Vec::new(), Vec::new(), 0);
    while let Some(Key(k)) = map.next_key()? {
        if k.eq_ignore_ascii_case(key) {
            first_time(&mut seen, 0)?;
            list = map.next_value::<OneOrMany<T>>()?.0;
        } else if slot(&k, known).is_some() {
            map.next_value::<IgnoredAny>()?;
        } else {
            unknown(&mut map, k, &mut unknown_lists)?;
        }
    }
    Ok((list, unknown_lists))
}

from_object!(Position, "a position", visit_position);

fn visit_position<'de, M: MapAccess<'de>>(mut map: M) -> Result<Position<'de>, M::Error> {
    let mut position = Position {
        values: Object::empty(),
        product: None,
        views: Default::default(),
    };
    let mut seen = 0;
    while let Some(Key(key)) = map.next_key()? {
        if let Some(i) = slot(&key, &PositionNames::NAMES) {
            first_time(&mut seen, i)?;
            position.values.values[i] = map.next_value::<Scalar>()?.0;
        } else if key.eq_ignore_ascii_case("product") {
            first_time(&mut seen, PositionNames::NAMES.len())?;
            position.product = map.next_value()?;
        } else if let Some(i) = slot(&key, &VIEWS) {
            first_time(&mut seen, PositionNames::NAMES.len() + 1 + i)?;
            position.views[i] = map
                .next_value::<Option<Object<3, ViewNames>>>()?
                .map(Box::new);
        } else {
            map.next_value::<IgnoredAny>()?;
        }
    }
    Ok(position)
}

impl<const N: usize, K> Object<'_, N, K> {
    fn empty() -> Self {
        Object {
            values: std::array::from_fn(|_| None),
            names: PhantomData,
        }
    }
}

impl<'de, const N: usize, K: Names<N>> Deserialize<'de> for Object<'de, N, K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const N: usize, K>(PhantomData<K>);
        impl<'de, const N: usize, K: Names<N>> Visitor<'de> for V<N, K> {
            type Value = Object<'de, N, K>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a product or a quote view")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut object = Object::empty();
                let mut seen = 0;
                while let Some(Key(key)) = map.next_key()? {
                    match slot(&key, &K::NAMES) {
                        Some(i) => {
                            first_time(&mut seen, i)?;
                            object.values[i] = map.next_value::<Scalar>()?.0;
                        }
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(object)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{BROKER, Notes, quote_numbers, read_portfolio, read_v1, typed_parts};
    use crate::tree::Node;
    use proptest::prelude::*;

    /// A page's rows and notes, each printed (a `Decimal`'s scale included).
    type Read = (Vec<String>, Vec<String>);

    fn by_tree(text: &str) -> Option<Read> {
        let quoted = quote_numbers(text);
        let tree = Node::parse(&quoted).ok()?;
        let (mut rows, mut quarantine) = (Vec::new(), Vec::new());
        let mut notes = Notes::new(BROKER, Some("K"), "p.json".into(), &mut quarantine);
        read_portfolio("K", &tree, &mut rows, &mut notes);
        Some(printed(rows, quarantine))
    }

    fn typed(text: &str) -> Option<Read> {
        let page = super::page(text)?;
        let (mut rows, mut quarantine) = (Vec::new(), Vec::new());
        let mut notes = Notes::new(BROKER, Some("K"), "p.json".into(), &mut quarantine);
        read_v1("K", typed_parts(&page), &mut rows, &mut notes);
        Some(printed(rows, quarantine))
    }

    fn printed<R: std::fmt::Debug, Q: std::fmt::Debug>(rows: Vec<R>, notes: Vec<Q>) -> Read {
        (each(rows), each(notes))
    }

    fn each<T: std::fmt::Debug>(v: Vec<T>) -> Vec<String> {
        v.iter().map(|x| format!("{x:?}")).collect()
    }

    #[test]
    fn the_fixtures_v1_pages_read_typed_as_by_the_tree() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/etrade/quirks/etrade"
        );
        for page in ["KeyA/portfolio.0001.json", "KeyA/portfolio.0002.json"] {
            let text = std::fs::read_to_string(format!("{dir}/{page}")).unwrap();
            let typed = typed(&text).unwrap_or_else(|| panic!("{page} is not read typed"));
            assert_eq!(Some(&typed), by_tree(&text).as_ref(), "{page}");
            assert!(!typed.0.is_empty(), "{page}");
        }
        // The legacy v0 shape is the tree's alone.
        let legacy = std::fs::read_to_string(format!("{dir}/KeyC/portfolio.0001.json")).unwrap();
        assert!(typed(&legacy).is_none());
    }

    #[test]
    fn shapes_the_typed_reading_leaves_to_the_tree() {
        let given_up = [
            // A key twice, in another casing: the tree takes the first.
            r#"{"PortfolioResponse":{"AccountPortfolio":{"Position":[{"quantity":1,"Quantity":2}]}}}"#,
            // An object where a value is read.
            r#"{"PortfolioResponse":{"AccountPortfolio":{"Position":[{"quantity":{"a":1}}]}}}"#,
            // A position that is not an object.
            r#"{"PortfolioResponse":{"AccountPortfolio":{"Position":["AAPL"]}}}"#,
            // A product that is not an object.
            r#"{"PortfolioResponse":{"AccountPortfolio":{"Position":{"Product":"AAPL"}}}}"#,
            // No PortfolioResponse, or one that is null.
            r#"{"Error":{"code":1}}"#,
            r#"{"PortfolioResponse":null}"#,
            // The same unknown list twice.
            r#"{"PortfolioResponse":{"x":[],"x":[]}}"#,
        ];
        for text in given_up {
            assert!(typed(text).is_none(), "{text}");
            assert!(by_tree(text).is_some(), "{text}");
        }
    }

    /// A key in one of the casings E*TRADE's drift has shown.
    fn cased(key: &'static str) -> impl Strategy<Value = String> {
        prop_oneof![
            Just(key.to_string()),
            Just(key.to_ascii_lowercase()),
            Just(key.to_ascii_uppercase()),
            Just(format!("{}{}", key[..1].to_ascii_uppercase(), &key[1..])),
        ]
    }

    /// A value for `key`: mostly one it takes, at times one it should not.
    fn value(key: &str) -> BoxedStrategy<String> {
        let typical: &[&str] = match key {
            "positionType" => &["\"LONG\"", "\"SHORT\"", "\"short\""],
            "securityType" | "typeCode" => &["\"EQ\"", "\"OPTN\"", "\"MF\"", "\"eq\""],
            "symbol" => &["\"AAPL\"", "\"spy\"", "\" XYZ \""],
            "callPut" => &["\"CALL\"", "\"put\""],
            "expiryYear" => &["2027", "\"2026\""],
            "expiryMonth" | "expiryDay" => &["12", "\"7\"", "31"],
            "osiKey" => &[
                "\"\"",
                "\"SPY---261218C00700000\"",
                "\"SPY261218P00012500\"",
            ],
            "cusip" => &[
                "\"037833100\"",
                "\" 30303m102 \"",
                "\"037833109\"",
                "37833100",
            ],
            "positionId" => &["194913747312", "\"1003\""],
            _ => &[
                "12.5",
                "-3",
                "0",
                "1e2",
                "0.000000015",
                "\"12.50\"",
                "\"-0.1\"",
                "100",
            ],
        };
        let weird = [
            "\"\"",
            "\" \"",
            "true",
            "null",
            "\"abc\"",
            "\"a\\\"b\"",
            "\"\\u0041APL\"",
            "123456789012345678901",
            "{}",
            "[1]",
        ];
        prop_oneof![
            12 => prop::sample::select(typical.to_vec()),
            1 => prop::sample::select(weird.to_vec()),
        ]
        .prop_map(str::to_string)
        .boxed()
    }

    /// An object with some of `keys` (cased at will, now and then one twice) with values
    /// from `value`, and a key of no interest.
    fn object(
        keys: &'static [&'static str],
        value: impl Fn(&'static str) -> BoxedStrategy<String>,
    ) -> impl Strategy<Value = String> {
        let pairs = keys
            .iter()
            .map(|k| (cased(k), value(k), prop::bool::weighted(0.85)))
            .collect::<Vec<_>>();
        (pairs, prop::bool::weighted(0.03)).prop_map(|(pairs, twice)| {
            let mut out: Vec<String> = pairs
                .into_iter()
                .filter(|(_, _, keep)| *keep)
                .map(|(k, v, _)| format!("\"{k}\":{v}"))
                .collect();
            if twice && let Some(first) = out.first().cloned() {
                out.push(first);
            }
            out.push("\"symbolDescription\":{\"x\":[1,2.5]}".into());
            format!("{{{}}}", out.join(","))
        })
    }

    const SCALARS: [&str; 10] = [
        "positionId",
        "osiKey",
        "quantity",
        "positionType",
        "costPerShare",
        "pricePaid",
        "price",
        "marketValue",
        "totalCost",
        "totalGain",
    ];

    const INNER_KEYS: [&str; 11] = [
        "symbol",
        "securityType",
        "typeCode",
        "callPut",
        "expiryYear",
        "expiryMonth",
        "expiryDay",
        "strikePrice",
        "lastTrade",
        "optionMultiplier",
        "cusip",
    ];

    fn position() -> impl Strategy<Value = String> {
        let inner = prop_oneof![
            20 => object(&INNER_KEYS, value),
            1 => Just("null".to_string()),
            1 => Just("\"text\"".to_string()),
        ]
        .boxed();
        let objects: &'static [&'static str] = &["Product", "Quick", "Complete", "Performance"];
        let scalars = object(&SCALARS, value);
        (scalars, object(objects, move |_| inner.clone())).prop_map(|(a, b)| {
            // The two objects' members in one position.
            format!("{},{}", &a[..a.len() - 1], &b[1..])
        })
    }

    /// A list, one bare item, null, or nothing else than its one item.
    fn list(item: BoxedStrategy<String>) -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::collection::vec(item.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            2 => item,
            1 => Just("null".to_string()),
        ]
    }

    fn page() -> impl Strategy<Value = String> {
        let account = (list(position().boxed()), cased("Position"), any::<bool>()).prop_map(
            |(positions, key, lots)| {
                let extra = if lots { ",\"Lots\":[1]" } else { "" };
                format!("{{\"accountId\":\"1\",\"totalPages\":1,\"{key}\":{positions}{extra}}}")
            },
        );
        (
            list(account.boxed()),
            cased("AccountPortfolio"),
            any::<bool>(),
        )
            .prop_map(|(accounts, key, extra)| {
                let extra = if extra {
                    ",\"Other\":{\"a\":1},\"Totals\":{\"x\":1}"
                } else {
                    ""
                };
                format!("{{\"PortfolioResponse\":{{\"{key}\":{accounts}{extra}}}}}")
            })
    }

    proptest! {
        // A case is a few microseconds; many cases meet the rarer values in the rarer places.
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Wherever the typed reading takes a page, it reads it as the tree does.
        #[test]
        fn a_page_read_typed_reads_as_by_the_tree(text in page()) {
            if let Some(typed) = typed(&text) {
                prop_assert_eq!(Some(typed), by_tree(&text), "{}", text);
            }
        }
    }
}
