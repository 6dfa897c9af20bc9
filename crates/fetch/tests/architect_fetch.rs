//! The Architect connector against the simulator: gRPC over HTTP/2 on loopback.

mod common;

use common::*;
use recon_fetch::{FetchOptions, RetryPolicy};
use recon_model::Broker;
use recon_model::manifest::{FetchStatus, Manifest};
use recon_sim::{Faults, SimBook, SimCredentials, SimOptions, start};
use std::time::Duration;

async fn fetch(
    options: SimOptions,
    secret: Option<&str>,
) -> (recon_sim::RunningSim, tempfile::TempDir, Manifest) {
    let book = SimBook::demo();
    let sim = start(book.clone(), SimCredentials::random(), options)
        .await
        .unwrap();
    let quick = FetchOptions {
        retry: RetryPolicy {
            retries: 3,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(2),
        },
        ..FetchOptions::default()
    };
    let replace: Vec<(&str, &str)> = secret.map(|s| ("api_secret", s)).into_iter().collect();
    let conn = sim_connector(&sim, Broker::Architect, None, quick, &replace);
    let (dir, manifest) = fetch_into(&[conn], book.as_of).await;
    (sim, dir, manifest)
}

#[tokio::test]
async fn every_summary_is_fetched_with_one_jwt_and_nothing_secret_is_stored() {
    let (sim, dir, manifest) = fetch(SimOptions::default(), None).await;
    let ar = &manifest.brokers["architect"];
    assert_eq!(ar.status, FetchStatus::Complete, "{:?}", ar.errors);
    assert_eq!(ar.accounts.len(), 3);
    let requests = ar.requests.as_ref().unwrap();
    // One JWT, the list, one summary per account; the JWT call keeps no file.
    assert_eq!(requests.len(), 1 + 1 + 3);
    let jwt = requests
        .iter()
        .find(|r| r.path == "/json.architect.Auth/CreateJwt")
        .unwrap();
    assert!(jwt.file.is_none());
    for id in &ar.accounts {
        assert!(
            dir.path()
                .join(format!("architect/{id}/summary.json"))
                .is_file()
        );
    }
    let c = &recon_sim::architect::Credentials::from_sim(&sim.credentials);
    for file in walk(dir.path()) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(
            !text.contains(&c.api_key) && !text.contains(&c.api_secret) && !text.contains("arch-"),
            "{}",
            file.display()
        );
    }
}

#[tokio::test]
async fn a_bad_secret_is_unauthenticated_once_without_retries() {
    let (_sim, _dir, manifest) = fetch(SimOptions::default(), Some("wrong")).await;
    let ar = &manifest.brokers["architect"];
    assert_eq!(ar.status, FetchStatus::Failed);
    assert!(
        ar.errors[0].error.contains("Unauthenticated") && ar.errors[0].error.contains("api_secret"),
        "{}",
        ar.errors[0].error
    );
    assert_eq!(ar.requests.as_ref().unwrap()[0].attempts, 1);
}

#[tokio::test]
async fn transient_grpc_failures_are_retried_within_bounds() {
    let options = SimOptions {
        faults: Faults::profile("flaky").unwrap(),
        ..SimOptions::default()
    };
    let (_sim, _dir, manifest) = fetch(options, None).await;
    let ar = &manifest.brokers["architect"];
    assert_eq!(ar.status, FetchStatus::Complete, "{:?}", ar.errors);
    // 503, 429 and a cut body in front of each route: never more than 1 + 3 attempts.
    let requests = ar.requests.as_ref().unwrap();
    assert!(
        requests.iter().all(|r| r.attempts >= 2 && r.attempts <= 4),
        "{requests:?}"
    );
}

#[tokio::test]
async fn an_answer_over_tonics_default_4_mib_is_read() {
    // One account with 40,000 futures lots: a summary of ~6 MB (a 20,000-account list is
    // ~5 MB). tonic's default limit refused it at the 100,000-account measurement.
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    let spec = recon_sim::generate::GenSpec {
        brokers: vec![Broker::Architect],
        ..recon_sim::generate::GenSpec::new(5, 1, 40_000, as_of)
    };
    let (book, _) = recon_sim::generate::generate(&spec);
    let sim = start(book, SimCredentials::random(), SimOptions::default())
        .await
        .unwrap();
    let conn = sim_connector(&sim, Broker::Architect, None, FetchOptions::default(), &[]);
    let (dir, manifest) = fetch_into(&[conn], as_of).await;
    let ar = &manifest.brokers["architect"];
    assert_eq!(ar.status, FetchStatus::Complete, "{:?}", ar.errors);
    let id = &ar.accounts[0];
    let size = std::fs::metadata(dir.path().join(format!("architect/{id}/summary.json")))
        .unwrap()
        .len();
    assert!(size > 4 << 20, "{size} bytes: not over the default limit");
}

#[tokio::test]
async fn https_speaks_tls_and_fails_closed_against_a_plain_server() {
    // The simulator speaks plain HTTP/2: a TLS handshake with it fails, and the connector
    // reports the broker failed (after its bounded retries) instead of hanging or guessing.
    let book = SimBook::demo();
    let sim = start(
        book.clone(),
        SimCredentials::random(),
        SimOptions::default(),
    )
    .await
    .unwrap();
    let url = sim
        .url(Broker::Architect)
        .unwrap()
        .replace("http://", "https://");
    let quick = FetchOptions {
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            retries: 1,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(10),
        },
        ..FetchOptions::default()
    };
    let conn = sim_connector(&sim, Broker::Architect, Some(&url), quick, &[]);
    let (_dir, manifest) =
        tokio::time::timeout(Duration::from_secs(30), fetch_into(&[conn], book.as_of))
            .await
            .expect("no hang");
    let ar = &manifest.brokers["architect"];
    assert_eq!(ar.status, FetchStatus::Failed);
    assert!(ar.requests.as_ref().unwrap()[0].attempts <= 2);
    // rustls met a reply that is not TLS.
    let e = &ar.errors[0].error;
    assert!(
        e.contains("Unavailable") && e.contains("InvalidContentType"),
        "{e}"
    );
}
