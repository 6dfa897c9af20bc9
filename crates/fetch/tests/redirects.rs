//! No broker call follows a redirect: TradeZero's secret-key header and tastytrade's
//! refresh token (posted to its token endpoint) would go wherever a 3xx pointed. A redirect
//! is an error naming its `Location`, and the place it pointed to hears nothing.

mod common;

use common::*;
use recon_model::Broker;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A server that answers every request with `status` pointing at `location`.
fn redirecting(status: &'static str, location: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf);
            let reply = format!(
                "HTTP/1.1 {status}\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    format!("http://{addr}")
}

/// A server that only counts the connections it gets.
fn counting() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            if stream.is_ok() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (format!("http://{addr}"), hits)
}

#[tokio::test]
async fn a_redirect_is_an_error_naming_its_location_and_is_never_followed() {
    let cases = [
        (
            Broker::Tradezero,
            "307 Temporary Redirect",
            &[("api_key_id", "id"), ("api_secret_key", "tz-secret")][..],
        ),
        (
            Broker::Tastytrade,
            "308 Permanent Redirect",
            &[("client_secret", "cs"), ("refresh_token", "rt")][..],
        ),
    ];
    for (broker, status, creds) in cases {
        let (elsewhere, hits) = counting();
        let target = format!("{elsewhere}/collect");
        let url = redirecting(status, target.clone());
        let mut secrets = recon_fetch::Secrets::default();
        for (k, v) in creds {
            secrets.insert(k, secrecy::SecretString::from(v.to_string()));
        }
        let connector = recon_fetch::connector(broker, &url, secrets, quick(0)).unwrap();
        let (_dir, manifest) = fetch_into(
            &[connector],
            chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        )
        .await;
        let entry = &manifest.brokers[broker.as_str()];
        let errors: Vec<&str> = entry.errors.iter().map(|e| e.error.as_str()).collect();
        assert!(
            errors
                .iter()
                .any(|e| e.contains("redirect to") && e.contains(&target)),
            "{broker}: {errors:?}"
        );
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "{broker}: the redirect was followed"
        );
    }
}
