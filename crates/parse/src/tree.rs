//! A JSON document as a tree that borrows its strings from the text: E*TRADE's reader
//! matches keys case-insensitively and survives drifting shapes, so it reads a tree rather
//! than typed structs, and `serde_json::Value` made that tree the slowest part of reading a
//! snapshot (every key and string allocated, every object a hash map: ~30 % of E*TRADE's
//! parse in `perf`). Here an object is a list of pairs in document order (a repeated key
//! keeps its first place and its last value, as `Value`'s map does) and a string without
//! escapes is a slice of the text. Numbers are read as their text (the caller quotes them
//! first, see `etrade::quote_numbers`), so digits are never rounded through a float: a
//! fractional number that reached the tree unquoted would be refused, not rounded.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    Str(Cow<'a, str>),
    Arr(Vec<Node<'a>>),
    Obj(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// The tree of a JSON text (numbers already quoted).
    pub fn parse(text: &'a str) -> serde_json::Result<Node<'a>> {
        serde_json::from_str(text)
    }

    /// The same tree owning its strings (kept beyond the text, like an account list entry).
    pub fn into_owned(self) -> Node<'static> {
        match self {
            Node::Null => Node::Null,
            Node::Bool(b) => Node::Bool(b),
            Node::Str(s) => Node::Str(Cow::Owned(s.into_owned())),
            Node::Arr(a) => Node::Arr(a.into_iter().map(Node::into_owned).collect()),
            Node::Obj(o) => Node::Obj(
                o.into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            ),
        }
    }

    /// A `serde_json::Value` as a tree (XML bodies, which `etrade::xml_to_value` reads).
    pub fn from_value(v: serde_json::Value) -> Node<'static> {
        use serde_json::Value;
        match v {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(b),
            Value::Number(n) => Node::Str(Cow::Owned(n.to_string())),
            Value::String(s) => Node::Str(Cow::Owned(s)),
            Value::Array(a) => Node::Arr(a.into_iter().map(Node::from_value).collect()),
            Value::Object(o) => Node::Obj(
                o.into_iter()
                    .map(|(k, v)| (Cow::Owned(k), Node::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// The tree as a `serde_json::Value` (to print it in a quarantine reason).
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Str(s) => Value::String(s.to_string()),
            Node::Arr(a) => Value::Array(a.iter().map(Node::to_value).collect()),
            Node::Obj(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Node::Null)
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Node::Arr(_))
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Node::Obj(_))
    }

    /// The pairs of an object.
    pub fn as_object(&self) -> Option<&[(Cow<'a, str>, Node<'a>)]> {
        match self {
            Node::Obj(o) => Some(o),
            _ => None,
        }
    }
}

/// Printed as JSON, as `serde_json::Value` prints.
impl fmt::Display for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_value().fmt(f)
    }
}

/// An object key, borrowed from the text when it has no escape.
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Node<'de>, E> {
                Ok(Node::Null)
            }
            fn visit_none<E>(self) -> Result<Node<'de>, E> {
                Ok(Node::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
                Node::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Node<'de>, E> {
                Ok(Node::Bool(b))
            }
            // Only a whole number the caller did not quote lands here, exactly; a fractional
            // one is refused by serde's default (it would come as a float).
            fn visit_i64<E>(self, n: i64) -> Result<Node<'de>, E> {
                Ok(Node::Str(Cow::Owned(n.to_string())))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Node<'de>, E> {
                Ok(Node::Str(Cow::Owned(n.to_string())))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Node<'de>, E> {
                Ok(Node::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Node<'de>, E> {
                Ok(Node::Str(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Node<'de>, E> {
                Ok(Node::Str(Cow::Owned(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Arr(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
                let mut pairs: Vec<(Cow<'de, str>, Node<'de>)> = Vec::new();
                while let Some((Key(k), v)) = map.next_entry::<Key, Node>()? {
                    match pairs.iter_mut().find(|(seen, _)| *seen == k) {
                        Some(pair) => pair.1 = v,
                        None => pairs.push((k, v)),
                    }
                }
                Ok(Node::Obj(pairs))
            }
        }
        d.deserialize_any(NodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_serde_json_does_with_strings_borrowed() {
        let text = r#"{"a": "x", "b": [true, null, "1.50"], "c": {"d": "e\"f"}, "a": "y"}"#;
        let node = Node::parse(text).unwrap();
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(node.to_value(), value);
        assert_eq!(node.to_string(), value.to_string());
        let Node::Obj(pairs) = &node else { panic!() };
        // A repeated key keeps its first place and its last value.
        assert_eq!(pairs[0].0, "a");
        assert_eq!(pairs[0].1, Node::Str("y".into()));
        assert!(
            matches!(&pairs[1].1, Node::Arr(items) if matches!(&items[2], Node::Str(Cow::Borrowed("1.50"))))
        );
        assert_eq!(Node::from_value(value.clone()).to_value(), value);
        assert_eq!(node.clone().into_owned(), node);
        // Unquoted: whole numbers keep their digits, a fraction is refused, never rounded.
        assert_eq!(
            Node::parse("12345678901234567").unwrap(),
            Node::Str("12345678901234567".into())
        );
        assert!(Node::parse("0.1").is_err());
    }
}
