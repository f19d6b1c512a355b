//! MSK IAM tokens from static credentials: no AWS needed, since signing is
//! local.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use base64::Engine as _;
use sluice_kafka::TokenProvider;
use sluice_kafka::security::MskIamTokenProvider;

fn static_provider() -> MskIamTokenProvider {
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
        None,
        "sluice-test",
    );
    MskIamTokenProvider::with_credentials("eu-west-1", SharedCredentialsProvider::new(credentials))
        .unwrap()
}

#[test]
fn token_is_a_presigned_connect_url_valid_for_fifteen_minutes() {
    let before_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let token = static_provider().token().unwrap();

    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&token.token)
        .expect("the token is unpadded base64url");
    let url = String::from_utf8(url).unwrap();
    let (base, query) = url.split_once('?').unwrap();
    assert_eq!(base, "https://kafka.eu-west-1.amazonaws.com/");
    let params: HashMap<&str, &str> = query
        .split('&')
        .map(|pair| pair.split_once('=').unwrap())
        .collect();
    assert_eq!(params["Action"], "kafka-cluster%3AConnect");
    assert_eq!(params["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
    assert_eq!(params["X-Amz-Expires"], "900");
    assert_eq!(params["X-Amz-SignedHeaders"], "host");
    assert!(
        params["X-Amz-Credential"].starts_with("AKIDEXAMPLE%2F")
            && params["X-Amz-Credential"].ends_with("%2Feu-west-1%2Fkafka-cluster%2Faws4_request"),
        "{}",
        params["X-Amz-Credential"]
    );
    let signature = params["X-Amz-Signature"];
    assert!(signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(params.contains_key("User-Agent"));
    assert!(
        !url.contains("wJalrXUtnFEMI"),
        "the secret key never leaves"
    );

    // librdkafka's lifetime is an absolute time in ms: 15 minutes from the
    // signing time (which has 1 s resolution).
    let expected = before_ms + 900_000;
    assert!(
        (expected - 2_000..=expected + 60_000).contains(&token.lifetime_ms),
        "expires at {} ms, expected about {expected}",
        token.lifetime_ms
    );
}

#[test]
fn tokens_can_be_made_from_inside_an_async_runtime() {
    // librdkafka may ask for a token while the caller's runtime polls the
    // client; signing must not try to block that runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let provider = static_provider();
    let token = runtime.block_on(async { provider.token() }).unwrap();
    assert!(!token.token.is_empty());
}

#[test]
fn provider_debug_shows_no_credentials() {
    let shown = format!("{:?}", static_provider());
    assert!(shown.contains("eu-west-1"));
    assert!(!shown.contains("AKIDEXAMPLE") && !shown.contains("wJalr"));
}
