//! Binance's checks for a SIGNED request, in Binance's order: API-key format, known key,
//! `timestamp` and `recvWindow`, then the signature over the payload exactly as sent.

use std::collections::HashMap;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use ring::signature;
use sha2::Sha256;

use crate::account::AccountBook;
use crate::error::Rejection;
use crate::request::{ApiRequest, Params, percent_decode, signed_payload};

/// What the exchange checks a signature with.
#[derive(Clone)]
pub enum Credential {
    Hmac(String),
    /// The raw 32-byte public key.
    Ed25519(Vec<u8>),
    /// The public key as DER `RSAPublicKey`.
    Rsa(Vec<u8>),
}

const MAX_RECV_WINDOW_MS: i64 = 60_000;

/// Authenticates a SIGNED request against the registered accounts; returns its API key.
pub(crate) fn authenticate(
    accounts: &HashMap<String, AccountBook>,
    request: &ApiRequest,
    params: &Params,
    server_time_ms: i64,
) -> Result<String, Rejection> {
    let api_key = request.api_key();
    if api_key.len() != 64 || !api_key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Rejection::new(
            StatusCode::UNAUTHORIZED,
            -2014,
            "API-key format invalid.",
        ));
    }
    let Some(book) = accounts.get(api_key) else {
        return Err(Rejection::rejected_key());
    };
    check_timing(params, server_time_ms)?;
    let (payload, signature) = signed_payload(&request.query, &request.body);
    let Some(signature) = signature.filter(|s| !s.is_empty()) else {
        return Err(Rejection::mandatory("signature"));
    };
    if !signature_matches(&book.account.credential, &payload, &signature) {
        return Err(Rejection::bad_request(
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    Ok(api_key.to_owned())
}

/// Timing security (rest-api.md): `timestamp` in ms or µs, `recvWindow` in ms with up to three
/// decimals, default 5000, at most 60000.
fn check_timing(params: &Params, server_time_ms: i64) -> Result<(), Rejection> {
    let Some(timestamp) = params.get("timestamp").and_then(|t| t.parse::<i64>().ok()) else {
        return Err(Rejection::mandatory("timestamp"));
    };
    // Anything past year 5138 in ms is a count of microseconds.
    let timestamp_us = if timestamp > 100_000_000_000_000 {
        timestamp
    } else {
        timestamp * 1000
    };
    let recv_window_us = match params.get("recvWindow") {
        None => 5_000_000,
        Some(text) => {
            parse_recv_window_us(text).ok_or_else(|| Rejection::mandatory("recvWindow"))?
        }
    };
    if recv_window_us > MAX_RECV_WINDOW_MS * 1000 {
        return Err(Rejection::bad_request(
            -1102,
            format!(
                "'recvWindow' contains unexpected value. Cannot be greater than {MAX_RECV_WINDOW_MS}."
            ),
        ));
    }
    let server_time_us = server_time_ms * 1000;
    if timestamp_us >= server_time_us + 1_000_000 {
        return Err(Rejection::bad_request(
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ));
    }
    if server_time_us - timestamp_us > recv_window_us {
        return Err(Rejection::bad_request(
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    Ok(())
}

fn parse_recv_window_us(text: &str) -> Option<i64> {
    let (ms, fraction) = text.split_once('.').unwrap_or((text, ""));
    if ms.is_empty() || fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms: i64 = ms.parse().ok()?;
    let fraction_us: i64 = format!("{fraction:0<3}").parse().ok()?;
    Some(ms * 1000 + fraction_us)
}

/// Checks the signature as Binance does: HMAC-SHA256 (hex, case-insensitive, constant-time),
/// or Ed25519 / RSA PKCS#1 v1.5 SHA-256 (base64, percent-encoded in the request), over the
/// payload exactly as sent.
pub(crate) fn signature_matches(credential: &Credential, signed: &str, signature: &str) -> bool {
    match credential {
        Credential::Hmac(secret) => {
            let Ok(expected) = hex::decode(signature.to_ascii_lowercase()) else {
                return false;
            };
            let mut mac =
                Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
            mac.update(signed.as_bytes());
            mac.verify_slice(&expected).is_ok()
        }
        Credential::Ed25519(public) => verify(&signature::ED25519, public, signed, signature),
        Credential::Rsa(public) => verify(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            public,
            signed,
            signature,
        ),
    }
}

fn verify(
    algorithm: &'static dyn signature::VerificationAlgorithm,
    public: &[u8],
    signed: &str,
    signature: &str,
) -> bool {
    let Ok(raw) = BASE64.decode(percent_decode(signature)) else {
        return false;
    };
    signature::UnparsedPublicKey::new(algorithm, public)
        .verify(signed.as_bytes(), &raw)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Account;
    use crate::{DEMO_ED25519_PRIVATE_KEY, DEMO_SECRET_KEY};

    #[test]
    fn verifies_binance_official_hmac_example() {
        let payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        let signature = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
        let demo = Credential::Hmac(DEMO_SECRET_KEY.into());
        assert!(signature_matches(&demo, payload, signature));
        assert!(signature_matches(&demo, payload, &signature.to_uppercase()));
        assert!(!signature_matches(
            &demo,
            &payload.replace("BUY", "SELL"),
            signature
        ));
        let other = Credential::Hmac("another-secret".into());
        assert!(!signature_matches(&other, payload, signature));
    }

    #[test]
    fn verifies_binance_official_percent_encoded_and_mixed_examples() {
        let demo = Credential::Hmac(DEMO_SECRET_KEY.into());
        let encoded = "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        let signature = "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3";
        assert!(signature_matches(&demo, encoded, signature));
        let (payload, _) = signed_payload(
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
            "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
        );
        let mixed = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77";
        assert!(signature_matches(&demo, &payload, mixed));
    }

    #[test]
    fn verifies_binance_official_ed25519_example() {
        let account = Account::from_private_key_pem(DEMO_ED25519_PRIVATE_KEY);
        let payload = "A\u{1}EXAMPLE\u{1}SPOT\u{1}1\u{1}20240627-11:17:25.223";
        let signature = "4MHXelVVcpkdwuLbl6n73HQUXUf1dse2PCgT1DYqW9w8AVZ1RACFGM%2B5UdlGPrQHrgtS3CvsRURC1oj73j8gCA%3D%3D";
        assert!(signature_matches(&account.credential, payload, signature));
        assert!(!signature_matches(&account.credential, "A", signature));
    }

    #[test]
    fn recv_window_takes_microseconds() {
        assert_eq!(parse_recv_window_us("6000.346"), Some(6_000_346));
        assert_eq!(parse_recv_window_us("5000"), Some(5_000_000));
        assert_eq!(parse_recv_window_us("1.2345"), None);
    }
}
