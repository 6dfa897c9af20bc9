//! The simulated tastytrade answers as BROKERS.md §1 says the real one does, over real HTTP.

use recon_model::Broker;
use recon_sim::{SimBook, SimCredentials, SimOptions, start, tastytrade};
use serde_json::{Value, json};

async fn sim(options: SimOptions) -> (recon_sim::RunningSim, String, reqwest::Client) {
    let sim = start(SimBook::demo(), SimCredentials::random(), options)
        .await
        .unwrap();
    let base = sim.url(Broker::Tastytrade).unwrap().to_string();
    let http = reqwest::Client::builder()
        .user_agent("recon-test/0.1")
        .build()
        .unwrap();
    (sim, base, http)
}

async fn token(sim: &recon_sim::RunningSim, base: &str, http: &reqwest::Client) -> String {
    let c = &tastytrade::Credentials::from_sim(&sim.credentials);
    let r = http
        .post(format!("{base}/oauth/token"))
        .json(&json!({"grant_type": "refresh_token", "client_secret": c.client_secret, "refresh_token": c.refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    body["access_token"].as_str().unwrap().to_string()
}

async fn get(http: &reqwest::Client, base: &str, token: &str, path: &str) -> reqwest::Response {
    http.get(format!("{base}{path}"))
        .bearer_auth(token)
        .header("Accept-Version", "20251101")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn accounts_balances_positions_and_status_in_kebab_case_envelopes() {
    let (sim, base, http) = sim(SimOptions::default()).await;
    let t = token(&sim, &base, &http).await;
    let list: Value = get(&http, &base, &t, "/customers/me/accounts")
        .await
        .json()
        .await
        .unwrap();
    let items = list["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["authority-level"], "owner");
    let closed = items
        .iter()
        .find(|i| i["account"]["account-number"] == "5WT00004")
        .unwrap();
    assert_eq!(closed["account"]["is-closed"], true);
    assert_eq!(list["context"], "/customers/me/accounts");

    let b: Value = get(&http, &base, &t, "/accounts/5WT00001/balances")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(b["data"]["cash-balance"], "18230.55");
    assert!(b["data"]["net-liquidating-value"].is_string());
    assert!(b["data"]["maintenance-excess"].is_string());
    // Short values are positive magnitudes.
    assert_eq!(b["data"]["short-derivative-value"], "430.0");

    // Marks only when asked for.
    let plain: Value = get(&http, &base, &t, "/accounts/5WT00001/positions")
        .await
        .json()
        .await
        .unwrap();
    assert!(plain["data"]["items"][0].get("mark").is_none());
    let marked: Value = get(
        &http,
        &base,
        &t,
        "/accounts/5WT00001/positions?include-marks=true",
    )
    .await
    .json()
    .await
    .unwrap();
    let rows = marked["data"]["items"].as_array().unwrap();
    assert_eq!(rows[0]["mark-price"], "601.2");
    // Quantity as a magnitude plus direction, a string in one row and a number in the next.
    assert_eq!(rows[0]["quantity"], "50");
    assert_eq!(rows[1]["quantity"], json!(1.68074));
    let put = &rows[2];
    assert_eq!(put["symbol"], "AAPL  261218P00200000");
    assert_eq!(put["quantity-direction"], "Short");
    assert_eq!(put["quantity"], "2");
    assert_eq!(put["multiplier"], 100);
    assert_eq!(put["instrument-type"], "Equity Option");

    let s: Value = get(&http, &base, &t, "/accounts/5WT00004/trading-status")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["data"]["is-closed"], true);
}

#[tokio::test]
async fn user_agent_version_token_and_account_errors_are_json() {
    let (sim, base, http) = sim(SimOptions::default()).await;
    let t = token(&sim, &base, &http).await;
    // No User-Agent: 401 even with a good token.
    let bare = reqwest::Client::new();
    let r = bare
        .get(format!("{base}/customers/me/accounts"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    // An API version that does not exist: 406.
    let r = http
        .get(format!("{base}/customers/me/accounts"))
        .bearer_auth(&t)
        .header("Accept-Version", "19990101")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    // A wrong token, a wrong refresh token, an unknown account.
    assert_eq!(
        get(&http, &base, "nope", "/customers/me/accounts")
            .await
            .status(),
        401
    );
    let r = http
        .post(format!("{base}/oauth/token"))
        .json(&json!({"grant_type": "refresh_token", "client_secret": "x", "refresh_token": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_credentials");
    let r = get(&http, &base, &t, "/accounts/5WT99999/balances").await;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "record_not_found");
}

#[tokio::test]
async fn tokens_expire_under_the_fault_and_answers_are_byte_identical() {
    let options = SimOptions {
        tastytrade: tastytrade::Dialect {
            token_uses: Some(2),
        },
        ..SimOptions::default()
    };
    let (sim, base, http) = sim(options).await;
    let t = token(&sim, &base, &http).await;
    assert_eq!(
        get(&http, &base, &t, "/customers/me/accounts")
            .await
            .status(),
        200
    );
    assert_eq!(
        get(&http, &base, &t, "/customers/me/accounts")
            .await
            .status(),
        200
    );
    let r = get(&http, &base, &t, "/customers/me/accounts").await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "token_expired");

    let (sim2, base2, _) = sim_default().await;
    let t1 = token(&sim, &base, &http).await;
    let t2 = token(&sim2, &base2, &http).await;
    for path in [
        "/accounts/5WT00001/balances",
        "/accounts/5WT00001/positions?include-marks=true",
    ] {
        let a = get(&http, &base, &t1, path).await.bytes().await.unwrap();
        let b = get(&http, &base2, &t2, path).await.bytes().await.unwrap();
        assert_eq!(a, b, "{path}");
    }
}

async fn sim_default() -> (recon_sim::RunningSim, String, reqwest::Client) {
    sim(SimOptions::default()).await
}

#[tokio::test]
async fn transactions_page_by_offset_with_a_pagination_object() {
    let (sim, base, http) = sim(SimOptions::default()).await;
    let t = token(&sim, &base, &http).await;
    let first: Value = get(
        &http,
        &base,
        &t,
        "/accounts/5WT00001/transactions?per-page=2",
    )
    .await
    .json()
    .await
    .unwrap();
    let pagination = &first["pagination"];
    assert_eq!(pagination["per-page"], 2);
    assert_eq!(pagination["page-offset"], 0);
    assert_eq!(pagination["total-items"], 4);
    assert_eq!(pagination["total-pages"], 2);
    assert_eq!(first["data"]["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["data"]["items"][0]["transaction-type"], "Trade");
    let second: Value = get(
        &http,
        &base,
        &t,
        "/accounts/5WT00001/transactions?per-page=2&page-offset=1",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(second["pagination"]["item-offset"], 2);
    assert_eq!(second["pagination"]["current-item-count"], 2);
    // The short put sold to open is a credit.
    let items = second["data"]["items"].as_array().unwrap();
    assert!(items.iter().any(|i| i["value-effect"] == "Credit"));
    let bad = get(
        &http,
        &base,
        &t,
        "/accounts/5WT00001/transactions?per-page=5000",
    )
    .await;
    assert_eq!(bad.status(), 400);
}
