//! A request as the exchange reads it: parameters from the query string and from an
//! `application/x-www-form-urlencoded` body, the query winning when a name is in both
//! (rest-api.md, General Information on Endpoints).

use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::error::Rejection;

/// Larger bodies than this are not Binance requests.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

pub(crate) struct ApiRequest {
    pub headers: HeaderMap,
    /// The query string exactly as sent, without the `?`.
    pub query: String,
    /// The body exactly as sent.
    pub body: String,
}

impl ApiRequest {
    pub fn api_key(&self) -> &str {
        self.headers
            .get("X-MBX-APIKEY")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn params(&self) -> Result<Params, Rejection> {
        Params::parse(&self.query, &self.body)
    }
}

impl<S: Send + Sync> FromRequest<S> for ApiRequest {
    type Rejection = Response;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| {
                Rejection::bad_request(-1000, "Request body too large.").into_response()
            })?;
        Ok(Self {
            headers: parts.headers,
            query: parts.uri.query().unwrap_or("").to_owned(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

/// Decoded parameters: the query's first, then the body's.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn parse(query: &str, body: &str) -> Result<Params, Rejection> {
        let mut pairs = decode_form(query)?;
        for (name, value) in decode_form(body)? {
            if !pairs.iter().any(|(seen, _)| *seen == name) {
                pairs.push((name, value));
            }
        }
        Ok(Params { pairs })
    }

    /// The value sent for `name`; an empty value counts as not sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, Rejection> {
        self.get(name).ok_or_else(|| Rejection::mandatory(name))
    }

    /// An optional integer parameter; a malformed one is refused with -1100.
    pub fn integer(&self, name: &str) -> Result<Option<i64>, Rejection> {
        self.get(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| Rejection::illegal_chars(name, "^[0-9]{1,20}$"))
            })
            .transpose()
    }

    /// Binance reads the parameters an endpoint knows and refuses a request with others
    /// (-1104); `signature`, `timestamp` and `recvWindow` are known to every endpoint.
    pub fn only(&self, known: &[&str]) -> Result<(), Rejection> {
        const ALWAYS: [&str; 3] = ["signature", "timestamp", "recvWindow"];
        let read = self
            .pairs
            .iter()
            .filter(|(name, _)| known.contains(&name.as_str()) || ALWAYS.contains(&name.as_str()))
            .count();
        if read == self.pairs.len() {
            return Ok(());
        }
        Err(Rejection::bad_request(
            -1104,
            format!(
                "Not all sent parameters were read; read '{read}' parameter(s) but was sent '{}'.",
                self.pairs.len()
            ),
        ))
    }
}

/// Splits `a=1&b=2` and decodes each part (`+` is a space); a name twice is -1101.
fn decode_form(text: &str) -> Result<Vec<(String, String)>, Rejection> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode_component(name);
        if pairs.iter().any(|(seen, _)| *seen == name) {
            return Err(Rejection::bad_request(
                -1101,
                "Duplicate values for a parameter detected.",
            ));
        }
        pairs.push((name, decode_component(value)));
    }
    Ok(pairs)
}

fn decode_component(text: &str) -> String {
    String::from_utf8_lossy(&percent_decode(&text.replace('+', " "))).into_owned()
}

pub(crate) fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// What a SIGNED request's signature covers: the query string followed directly by the body,
/// both as sent, less the `signature` parameter (binance-spot-auth.md §2). Returns that payload
/// and the signature as sent (still percent-encoded).
pub(crate) fn signed_payload(query: &str, body: &str) -> (String, Option<String>) {
    let mut signature = None;
    let mut strip = |part: &str| -> String {
        part.split('&')
            .filter(|pair| match pair.strip_prefix("signature=") {
                Some(value) => {
                    signature = Some(value.to_owned());
                    false
                }
                None => true,
            })
            .collect::<Vec<_>>()
            .join("&")
    };
    let payload = strip(query) + &strip(body);
    (payload, signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_wins_over_body_and_values_are_decoded() {
        let params = Params::parse(
            "symbol=BTCUSDT&newClientOrderId=a%3Ab%2Fc",
            "symbol=ETHUSDT&side=BUY&x=a+b",
        )
        .unwrap();
        assert_eq!(params.get("symbol"), Some("BTCUSDT"));
        assert_eq!(params.get("side"), Some("BUY"));
        assert_eq!(params.get("newClientOrderId"), Some("a:b/c"));
        assert_eq!(params.get("x"), Some("a b"));
        assert_eq!(Params::parse("a=1&a=2", "").unwrap_err().code, -1101);
        assert_eq!(
            params
                .only(&["symbol", "side", "newClientOrderId"])
                .unwrap_err()
                .code,
            -1104
        );
    }

    #[test]
    fn signature_is_taken_out_of_query_or_body() {
        let (payload, signature) = signed_payload(
            "symbol=LTCBTC&timeInForce=GTC",
            "quantity=1&timestamp=1&signature=ab",
        );
        assert_eq!(
            payload,
            "symbol=LTCBTC&timeInForce=GTCquantity=1&timestamp=1"
        );
        assert_eq!(signature.as_deref(), Some("ab"));
        let (payload, signature) = signed_payload("a=1&signature=cd", "b=2");
        assert_eq!(payload, "a=1b=2");
        assert_eq!(signature.as_deref(), Some("cd"));
    }
}
