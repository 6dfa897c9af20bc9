//! OAuth 1.0a HMAC-SHA1 request signing (RFC 5849), the scheme E*TRADE requires on every
//! request. It lives here because two crates must agree on it byte for byte: fetch signs,
//! and the simulator checks signatures the way the broker does. Tested against the
//! RFC-style example vector everyone publishes, so the two sides cannot agree on a mistake.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::collections::BTreeMap;

/// The four secrets of an OAuth 1.0a request.
pub struct Keys<'a> {
    pub consumer_key: &'a str,
    pub consumer_secret: &'a str,
    pub token: &'a str,
    pub token_secret: &'a str,
}

/// What RFC 3986 (and so RFC 5849) leaves unencoded: `A-Z a-z 0-9 - . _ ~`.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// RFC 3986 percent-encoding: everything but `A-Z a-z 0-9 - . _ ~`.
pub fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

/// The inverse of [`percent_encode`] (and of `+` as space, as forms write it); `None` when
/// the bytes are not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The signature of a request: `method`, the URL without its query, and every parameter
/// (query and `oauth_*` except the signature itself).
pub fn signature(
    method: &str,
    base_url: &str,
    params: &[(String, String)],
    consumer_secret: &str,
    token_secret: &str,
) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    encoded.sort();
    let normalized = encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base = format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        percent_encode(base_url),
        percent_encode(&normalized)
    );
    let key = format!(
        "{}&{}",
        percent_encode(consumer_secret),
        percent_encode(token_secret)
    );
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC accepts any key");
    mac.update(base.as_bytes());
    base64(&mac.finalize().into_bytes())
}

/// The `Authorization: OAuth …` header for a request with `query`.
pub fn authorization(
    method: &str,
    base_url: &str,
    query: &[(&str, String)],
    keys: &Keys,
    nonce: &str,
    timestamp: u64,
) -> String {
    let mut oauth: Vec<(String, String)> = vec![
        ("oauth_consumer_key".into(), keys.consumer_key.into()),
        ("oauth_nonce".into(), nonce.into()),
        ("oauth_signature_method".into(), "HMAC-SHA1".into()),
        ("oauth_timestamp".into(), timestamp.to_string()),
        ("oauth_token".into(), keys.token.into()),
        ("oauth_version".into(), "1.0".into()),
    ];
    let mut all = oauth.clone();
    all.extend(query.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let sig = signature(
        method,
        base_url,
        &all,
        keys.consumer_secret,
        keys.token_secret,
    );
    oauth.push(("oauth_signature".into(), sig));
    let fields: Vec<String> = oauth
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", percent_encode(v)))
        .collect();
    format!("OAuth {}", fields.join(","))
}

/// The parameters of an `OAuth k="v",…` header, decoded; `None` when it is not one.
pub fn parse_authorization(header: &str) -> Option<BTreeMap<String, String>> {
    let rest = header.trim().strip_prefix("OAuth ")?;
    let mut out = BTreeMap::new();
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=')?;
        let v = v.trim().strip_prefix('"')?.strip_suffix('"')?;
        out.insert(k.trim().to_string(), percent_decode(v)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Twitter's "Creating a signature" guide, a published vector.
    #[test]
    fn the_published_example_signs_to_its_published_signature() {
        let params: Vec<(String, String)> = [
            (
                "status",
                "Hello Ladies + Gentlemen, a signed OAuth request!",
            ),
            ("include_entities", "true"),
            ("oauth_consumer_key", "xvz1evFS4wEEPTGEFPHBog"),
            ("oauth_nonce", "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "1318622958"),
            (
                "oauth_token",
                "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
            ),
            ("oauth_version", "1.0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let sig = signature(
            "post",
            "https://api.twitter.com/1.1/statuses/update.json",
            &params,
            "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
            "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
        );
        assert_eq!(sig, "hCtSmYh+iHYCEqBWrE7C7hYmtUk=");
    }

    #[test]
    fn a_header_round_trips_and_verifies() {
        let keys = Keys {
            consumer_key: "ck",
            consumer_secret: "cs",
            token: "t/k+n",
            token_secret: "ts",
        };
        let q = [("instType", "BROKERAGE".to_string())];
        let h = authorization("GET", "http://127.0.0.1:1/v1/x", &q, &keys, "n1", 42);
        let p = parse_authorization(&h).unwrap();
        assert_eq!(p["oauth_token"], "t/k+n");
        let mut params: Vec<(String, String)> = p
            .iter()
            .filter(|(k, _)| *k != "oauth_signature")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        params.push(("instType".into(), "BROKERAGE".into()));
        assert_eq!(
            signature("GET", "http://127.0.0.1:1/v1/x", &params, "cs", "ts"),
            p["oauth_signature"]
        );
        assert!(parse_authorization("Bearer x").is_none());
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(percent_encode("a b+c/~"), "a%20b%2Bc%2F~");
        assert_eq!(percent_decode("a%20b%2Bc+d").as_deref(), Some("a b+c d"));
        assert_eq!(
            percent_decode(&percent_encode("é/ü")).as_deref(),
            Some("é/ü")
        );
        assert_eq!(percent_decode("%FF"), None, "not UTF-8");
    }
}
