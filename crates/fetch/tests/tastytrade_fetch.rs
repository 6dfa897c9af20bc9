//! The tastytrade connector against the simulator, over real HTTP on loopback.

mod common;

use common::*;
use recon_fetch::{FetchOptions, SnapshotWriter, fetch_all};
use recon_model::Broker;
use recon_model::manifest::FetchStatus;
use recon_sim::{Faults, SimBook, SimCredentials, SimOptions, start};

async fn fetch(
    options: SimOptions,
) -> (
    recon_sim::RunningSim,
    tempfile::TempDir,
    recon_model::manifest::Manifest,
) {
    let book = SimBook::demo();
    let sim = start(book.clone(), SimCredentials::random(), options)
        .await
        .unwrap();
    let conn = sim_connector(&sim, Broker::Tastytrade, None, FetchOptions::default(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let out = SnapshotWriter::create(dir.path()).unwrap();
    let manifest = fetch_all(&[conn], &out, book.as_of).await.unwrap();
    (sim, dir, manifest)
}

#[tokio::test]
async fn every_account_is_fetched_with_one_token_and_no_secret_is_stored() {
    let (sim, dir, manifest) = fetch(SimOptions::default()).await;
    let tt = &manifest.brokers["tastytrade"];
    assert_eq!(tt.status, FetchStatus::Complete, "{:?}", tt.errors);
    assert_eq!(
        tt.accounts,
        vec!["5WT00001", "5WT00002", "5WT00003", "5WT00004"]
    );
    let requests = tt.requests.as_ref().unwrap();
    // One token, the list, three endpoints per account.
    assert_eq!(
        requests.iter().filter(|r| r.path == "/oauth/token").count(),
        1
    );
    assert_eq!(requests.len(), 1 + 1 + 3 * 4);
    let token = requests.iter().find(|r| r.path == "/oauth/token").unwrap();
    assert!(token.file.is_none() && token.query.is_none());
    let positions = requests
        .iter()
        .find(|r| r.path.ends_with("/positions"))
        .unwrap();
    assert_eq!(positions.query.as_deref(), Some("include-marks=true"));
    for file in walk(dir.path()) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        for secret in [
            sim.credentials.get(Broker::Tastytrade, "client_secret"),
            sim.credentials.get(Broker::Tastytrade, "refresh_token"),
        ] {
            assert!(!text.contains(secret), "{}", file.display());
        }
        assert!(
            !text.contains("tta-"),
            "{} holds an access token",
            file.display()
        );
    }
}

#[tokio::test]
async fn a_token_that_expires_mid_run_is_renewed() {
    let options = SimOptions {
        faults: Faults::profile("expiry").unwrap(),
        ..SimOptions::default()
    };
    let (_sim, _dir, manifest) = fetch(options).await;
    let tt = &manifest.brokers["tastytrade"];
    assert_eq!(tt.status, FetchStatus::Complete, "{:?}", tt.errors);
    let requests = tt.requests.as_ref().unwrap();
    let tokens = requests.iter().filter(|r| r.path == "/oauth/token").count();
    let refused = requests.iter().filter(|r| r.status == Some(401)).count();
    // 13 data requests, 5 uses per token: renewals, each after a 401.
    assert!(tokens >= 3, "{tokens} tokens");
    assert!(refused >= 2, "{refused} refused, {tokens} tokens");
}

#[tokio::test]
async fn a_bad_refresh_token_fails_the_broker_without_retries() {
    let book = SimBook::demo();
    let sim = start(
        book.clone(),
        SimCredentials::random(),
        SimOptions::default(),
    )
    .await
    .unwrap();
    let conn = sim_connector(
        &sim,
        Broker::Tastytrade,
        None,
        FetchOptions::default(),
        &[("client_secret", "x"), ("refresh_token", "y")],
    );
    let dir = tempfile::tempdir().unwrap();
    let out = SnapshotWriter::create(dir.path()).unwrap();
    let manifest = fetch_all(&[conn], &out, book.as_of).await.unwrap();
    let tt = &manifest.brokers["tastytrade"];
    assert_eq!(tt.status, FetchStatus::Failed);
    assert!(
        tt.errors[0].error.contains("401") && tt.errors[0].error.contains("refresh_token"),
        "{}",
        tt.errors[0].error
    );
    let requests = tt.requests.as_ref().unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].attempts, 1);
}
