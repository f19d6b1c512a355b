//! Webhook signatures: [Standard Webhooks] (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64>` over
//! `id.timestamp.body`, `whsec_` secrets) and the GitHub style
//! (`X-Hub-Signature-256: sha256=<hex>` over the body). Both are
//! HMAC-SHA256; every comparison is constant-time, and several secrets may
//! be active at once, so a secret can be rotated without downtime.
//!
//! [Standard Webhooks]: https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md

use std::fmt;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The Standard Webhooks header names.
pub mod header {
    pub const ID: &str = "webhook-id";
    pub const TIMESTAMP: &str = "webhook-timestamp";
    pub const SIGNATURE: &str = "webhook-signature";
}

/// How requests are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Standard Webhooks: id, timestamp and `v1,<base64>` signatures.
    Standard,
    /// GitHub's `sha256=<hex>` over the body, in a configurable header; no
    /// timestamp.
    Github,
}

/// Why a request's signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("missing header {0}")]
    MissingHeader(String),
    #[error("header {name}: {reason}")]
    InvalidHeader { name: String, reason: String },
    #[error("the timestamp is {0} s old, beyond the tolerance")]
    Stale(u64),
    #[error("the timestamp is {0} s in the future, beyond the tolerance")]
    Future(u64),
    #[error("no signature matches an active secret")]
    NoMatch,
}

/// Why a configured secret cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// Nothing of the text is kept: the error would show part of it.
    #[error("a Standard Webhooks secret is base64 after `whsec_`; this one is not")]
    NotBase64,
    #[error("the secret is empty")]
    Empty,
}

/// A secret key. Its bytes never appear in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes, redacted>)", self.0.len())
    }
}

impl Secret {
    /// A Standard Webhooks secret: base64, with or without its `whsec_`
    /// prefix.
    pub fn standard(text: &str) -> Result<Self, SecretError> {
        let encoded = text.strip_prefix("whsec_").unwrap_or(text);
        let bytes = BASE64
            .decode(encoded.trim_end_matches('='))
            .or_else(|_| BASE64.decode(encoded))
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded))
            .map_err(|_| SecretError::NotBase64)?;
        Self::from_bytes(bytes)
    }

    /// A secret used as its bytes (GitHub's style).
    pub fn raw(text: &str) -> Result<Self, SecretError> {
        Self::from_bytes(text.as_bytes().to_vec())
    }

    fn from_bytes(bytes: Vec<u8>) -> Result<Self, SecretError> {
        if bytes.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self(bytes))
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }
}

/// The Standard Webhooks content signed for a message.
fn standard_mac(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = secret.mac();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` value for a message: one `v1,<base64>` per
/// secret, separated by spaces.
pub fn standard_signature(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| {
            let tag = standard_mac(secret, id, timestamp, body)
                .finalize()
                .into_bytes();
            format!("v1,{}", BASE64.encode(tag))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A request's Standard Webhooks headers, as received.
#[derive(Debug, Clone, Copy)]
pub struct StandardHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Checks a Standard Webhooks request: the timestamp within `tolerance` of
/// `now` either way, then any `v1` signature made with any of `secrets`.
/// Returns the message id and timestamp.
pub fn verify_standard<'a>(
    secrets: &[Secret],
    headers: StandardHeaders<'a>,
    body: &[u8],
    now: SystemTime,
    tolerance: Duration,
) -> Result<(&'a str, i64), SignatureError> {
    let missing = |name: &str| SignatureError::MissingHeader(name.to_owned());
    let id = headers.id.ok_or_else(|| missing(header::ID))?;
    let timestamp_text = headers
        .timestamp
        .ok_or_else(|| missing(header::TIMESTAMP))?;
    let signatures = headers
        .signature
        .ok_or_else(|| missing(header::SIGNATURE))?;
    let timestamp: i64 =
        timestamp_text
            .trim()
            .parse()
            .map_err(|_| SignatureError::InvalidHeader {
                name: header::TIMESTAMP.into(),
                reason: "not an integer number of seconds since 1970".into(),
            })?;
    check_timestamp(timestamp, now, tolerance)?;
    let candidates: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|s| s.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, tag)| BASE64.decode(tag).ok())
        .collect();
    if candidates.is_empty() {
        return Err(SignatureError::InvalidHeader {
            name: header::SIGNATURE.into(),
            reason: "no `v1,<base64>` signature".into(),
        });
    }
    for secret in secrets {
        let mac = standard_mac(secret, id, timestamp, body);
        for tag in &candidates {
            if mac.clone().verify_slice(tag).is_ok() {
                return Ok((id, timestamp));
            }
        }
    }
    Err(SignatureError::NoMatch)
}

fn check_timestamp(
    timestamp: i64,
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let now = match now.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    };
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    let age = now.saturating_sub(timestamp);
    if age > tolerance {
        return Err(SignatureError::Stale(age.unsigned_abs()));
    }
    if -age > tolerance {
        return Err(SignatureError::Future(age.unsigned_abs()));
    }
    Ok(())
}

/// GitHub's header value for `body`: `sha256=<hex>`, with the first secret
/// (GitHub signs with one).
pub fn github_signature(secret: &Secret, body: &[u8]) -> String {
    let mut mac = secret.mac();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a GitHub-style `sha256=<hex>` value against any of `secrets`.
pub fn verify_github(
    secrets: &[Secret],
    header_name: &str,
    value: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let value = value.ok_or_else(|| SignatureError::MissingHeader(header_name.to_owned()))?;
    let tag = value
        .trim()
        .strip_prefix("sha256=")
        .and_then(|hex_tag| hex::decode(hex_tag).ok())
        .ok_or_else(|| SignatureError::InvalidHeader {
            name: header_name.to_owned(),
            reason: "expected `sha256=<hex>`".into(),
        })?;
    for secret in secrets {
        let mut mac = secret.mac();
        mac.update(body);
        if mac.verify_slice(&tag).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn at(secs: i64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
    }

    fn secret() -> Secret {
        Secret::standard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
    }

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> StandardHeaders<'a> {
        StandardHeaders {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    #[test]
    fn standard_round_trip_and_refusals() {
        let body = br#"{"test": 2432232314}"#;
        // The Standard Webhooks reference vector.
        let reference = standard_signature(
            &[secret()],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            body,
        );
        assert_eq!(reference, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let sig = standard_signature(&[secret()], "msg_p5jXN8AQM9LWM0D4loKWxJek", NOW, body);
        assert_eq!(sig, "v1,hw6D+jquXiPwVQiZTwb2ek9FSrOofldv7tv4JVMsFUY=");
        let ts = NOW.to_string();
        let tolerance = Duration::from_secs(300);
        let ok = verify_standard(
            &[secret()],
            headers("msg_p5jXN8AQM9LWM0D4loKWxJek", &ts, &sig),
            body,
            at(NOW),
            tolerance,
        );
        assert_eq!(ok, Ok(("msg_p5jXN8AQM9LWM0D4loKWxJek", NOW)));
        let verify = |id: &str, ts: &str, sig: &str, body: &[u8], now: i64| {
            verify_standard(&[secret()], headers(id, ts, sig), body, at(now), tolerance)
                .map(|(_, ts)| ts)
        };
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        assert_eq!(verify(id, &ts, &sig, body, NOW), Ok(NOW));
        assert_eq!(
            verify(id, &ts, &sig, b"{}", NOW),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify("other", &ts, &sig, body, NOW),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(id, &ts, &sig, body, NOW + 301),
            Err(SignatureError::Stale(301))
        );
        assert_eq!(
            verify(id, &ts, &sig, body, NOW - 301),
            Err(SignatureError::Future(301))
        );
        assert!(verify(id, &ts, &sig, body, NOW + 300).is_ok());
        assert!(matches!(
            verify(id, "12.5", &sig, body, NOW),
            Err(SignatureError::InvalidHeader { .. })
        ));
        assert!(matches!(
            verify(id, &ts, "v2,abc", body, NOW),
            Err(SignatureError::InvalidHeader { .. })
        ));
        let missing = StandardHeaders {
            id: Some(id),
            timestamp: None,
            signature: Some(&sig),
        };
        assert_eq!(
            verify_standard(&[secret()], missing, body, at(NOW), tolerance),
            Err(SignatureError::MissingHeader("webhook-timestamp".into()))
        );
    }

    #[test]
    fn several_signatures_and_secrets_rotate() {
        let old = secret();
        let new = Secret::standard("whsec_c2VjcmV0LW51bWJlci10d28=").unwrap();
        let body = b"{}";
        let ts = NOW.to_string();
        let tolerance = Duration::from_secs(300);
        // A sender signing with both; a receiver knowing either accepts.
        let both = standard_signature(&[old.clone(), new.clone()], "id", NOW, body);
        assert_eq!(both.split(' ').count(), 2);
        for known in [&old, &new] {
            let result = verify_standard(
                std::slice::from_ref(known),
                headers("id", &ts, &both),
                body,
                at(NOW),
                tolerance,
            );
            assert!(result.is_ok());
        }
        // A receiver with both secrets accepts a sender still on the old one.
        let only_old = standard_signature(std::slice::from_ref(&old), "id", NOW, body);
        let result = verify_standard(
            &[new, old],
            headers("id", &ts, &only_old),
            body,
            at(NOW),
            tolerance,
        );
        assert!(result.is_ok());
    }

    #[test]
    fn github_matches_a_hand_computed_hmac() {
        // GitHub's documented example: secret "It's a Secret to Everybody",
        // body "Hello, World!".
        let secret = Secret::raw("It's a Secret to Everybody").unwrap();
        let sig = github_signature(&secret, b"Hello, World!");
        assert_eq!(
            sig,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let name = "x-hub-signature-256";
        assert_eq!(
            verify_github(
                std::slice::from_ref(&secret),
                name,
                Some(&sig),
                b"Hello, World!"
            ),
            Ok(())
        );
        assert_eq!(
            verify_github(
                std::slice::from_ref(&secret),
                name,
                Some(&sig),
                b"Hello, World?"
            ),
            Err(SignatureError::NoMatch)
        );
        assert!(matches!(
            verify_github(std::slice::from_ref(&secret), name, Some("sha1=abc"), b""),
            Err(SignatureError::InvalidHeader { .. })
        ));
        assert!(matches!(
            verify_github(&[secret], name, None, b""),
            Err(SignatureError::MissingHeader(_))
        ));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let shown = format!("{:?}", Secret::raw("hunter2-hunter2").unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(Secret::standard("whsec_!!!").is_err());
        assert!(Secret::raw("").is_err());
    }
}
