//! The simulated Architect answers as BROKERS.md §5 says the real one does: unary gRPC over
//! HTTP/2 with JSON bodies, spoken here with tonic and the shared JSON codec.

use bytes::Bytes;
use recon_grpc_json::{JsonCodec, routes};
use recon_model::Broker;
use recon_sim::{SimBook, SimCredentials, SimOptions, architect, start};
use serde_json::{Value, json};
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

async fn call(
    channel: &Channel,
    route: &'static str,
    body: Value,
    jwt: Option<&str>,
) -> Result<Value, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(Bytes::from(body.to_string()));
    if let Some(jwt) = jwt {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {jwt}").parse().unwrap());
    }
    let answer = grpc
        .unary(request, PathAndQuery::from_static(route), JsonCodec)
        .await?;
    Ok(serde_json::from_slice(answer.get_ref()).unwrap())
}

async fn sim() -> (recon_sim::RunningSim, Channel, String) {
    let sim = start(
        SimBook::demo(),
        SimCredentials::random(),
        SimOptions::default(),
    )
    .await
    .unwrap();
    let url = sim.url(Broker::Architect).unwrap().to_string();
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let c = &architect::Credentials::from_sim(&sim.credentials);
    let jwt = call(
        &channel,
        routes::CREATE_JWT,
        json!({"api_key": c.api_key, "api_secret": c.api_secret}),
        None,
    )
    .await
    .unwrap()["jwt"]
        .as_str()
        .unwrap()
        .to_string();
    (sim, channel, jwt)
}

const ES_ACCOUNT: &str = "0b7e6c2a-5f4d-4e3a-9c1b-7a2d8e9f0a11";

#[tokio::test]
async fn accounts_and_summaries_in_architects_json() {
    let (_sim, ch, jwt) = sim().await;
    let accounts = call(&ch, routes::ACCOUNTS, json!({}), Some(&jwt))
        .await
        .unwrap();
    let list = accounts["accounts"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["account"]["name"], "STONEX:000000/JDoe");
    assert_eq!(list[0]["permissions"]["view"], true);
    let paper = call(&ch, routes::ACCOUNTS, json!({"paper": true}), Some(&jwt))
        .await
        .unwrap();
    assert_eq!(paper["accounts"].as_array().unwrap().len(), 1);

    let s = call(
        &ch,
        routes::ACCOUNT_SUMMARY,
        json!({"account": ES_ACCOUNT}),
        Some(&jwt),
    )
    .await
    .unwrap();
    assert_eq!(s["balances"]["USD"], "50000");
    assert!(s["equity"].is_string());
    // Two lots of one product under one key; cost_basis is the entry price.
    let es = s["positions"]["ES 20261218 CME Future/USD"]
        .as_array()
        .unwrap();
    assert_eq!(es.len(), 2);
    assert_eq!(es[0]["quantity"], "2");
    assert_eq!(es[0]["cost_basis"], "6400.25");
    // No multiplier anywhere on the wire.
    assert!(!s.to_string().contains("multiplier"));
    // By name as well as by UUID: the same summary.
    let by_name = call(
        &ch,
        routes::ACCOUNT_SUMMARY,
        json!({"account": "STONEX:000000/JDoe"}),
        Some(&jwt),
    )
    .await
    .unwrap();
    assert_eq!(by_name, s);
    let all = call(&ch, routes::ACCOUNT_SUMMARIES, json!({}), Some(&jwt))
        .await
        .unwrap();
    let all = all["account_summaries"].as_array().unwrap();
    assert_eq!(all.len(), 3);
    // Both sides of the 2026-03 schema change are served.
    assert!(all.iter().any(|s| s.get("purchasing_power").is_some()));
    assert!(all.iter().any(|s| s.get("excess_liquidity").is_some()));
}

#[tokio::test]
async fn errors_are_grpc_status_codes() {
    let (_sim, ch, jwt) = sim().await;
    let bad = call(
        &ch,
        routes::CREATE_JWT,
        json!({"api_key": "x", "api_secret": "y"}),
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(bad.code(), Code::Unauthenticated);
    let none = call(&ch, routes::ACCOUNTS, json!({}), None)
        .await
        .unwrap_err();
    assert_eq!(none.code(), Code::Unauthenticated);
    let forged = call(&ch, routes::ACCOUNTS, json!({}), Some("forged"))
        .await
        .unwrap_err();
    assert_eq!(forged.code(), Code::Unauthenticated);
    let missing = call(
        &ch,
        routes::ACCOUNT_SUMMARY,
        json!({"account": "nope"}),
        Some(&jwt),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let no_account = call(&ch, routes::ACCOUNT_SUMMARY, json!({}), Some(&jwt))
        .await
        .unwrap_err();
    assert_eq!(no_account.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn the_same_book_gives_the_same_bytes() {
    let (_a, ch1, jwt1) = sim().await;
    let (_b, ch2, jwt2) = sim().await;
    let body = json!({"account": ES_ACCOUNT});
    let one = call(&ch1, routes::ACCOUNT_SUMMARY, body.clone(), Some(&jwt1))
        .await
        .unwrap();
    let two = call(&ch2, routes::ACCOUNT_SUMMARY, body, Some(&jwt2))
        .await
        .unwrap();
    assert_eq!(one.to_string(), two.to_string());
}
