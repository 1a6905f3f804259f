//! Errors as Binance answers them: an HTTP status and `{"code": …, "msg": …}`.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone)]
pub(crate) struct Rejection {
    pub status: StatusCode,
    pub code: i64,
    pub msg: Cow<'static, str>,
}

impl Rejection {
    pub fn new(status: StatusCode, code: i64, msg: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
        }
    }

    pub fn bad_request(code: i64, msg: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, msg)
    }

    /// -1102, a mandatory parameter missing or empty.
    pub fn mandatory(name: &str) -> Self {
        Self::bad_request(
            -1102,
            format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
        )
    }

    /// -1102, neither of two alternative parameters sent.
    pub fn one_of(first: &str, second: &str) -> Self {
        Self::bad_request(
            -1102,
            format!("Param '{first}' or '{second}' must be sent, but both were empty/null!"),
        )
    }

    /// -1100, a parameter outside its legal character range.
    pub fn illegal_chars(name: &str, legal_range: &str) -> Self {
        Self::bad_request(
            -1100,
            format!(
                "Illegal characters found in parameter '{name}'; legal range is '{legal_range}'."
            ),
        )
    }

    /// -1106, a parameter this kind of order does not take.
    pub fn not_required(name: &str) -> Self {
        Self::bad_request(-1106, format!("Parameter '{name}' sent when not required."))
    }

    pub fn invalid_symbol() -> Self {
        Self::bad_request(-1121, "Invalid symbol.")
    }

    /// -1013, an order that breaks one of the symbol's filters (errors.md, Filter failures).
    pub fn filter_failure(filter: &str) -> Self {
        Self::bad_request(-1013, format!("Filter failure: {filter}"))
    }

    /// -2010, the matching engine refused the order (errors.md, -2010 messages).
    pub fn order_rejected(msg: &'static str) -> Self {
        Self::bad_request(-2010, msg)
    }

    /// -2011 for a cancel of an order that is not open.
    pub fn unknown_order_cancel() -> Self {
        Self::bad_request(-2011, "Unknown order sent.")
    }

    /// -2013 for a query of an order that does not exist.
    pub fn no_such_order() -> Self {
        Self::bad_request(-2013, "Order does not exist.")
    }

    /// -2015, wrong key, IP or permission.
    pub fn rejected_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        )
    }

    pub fn body(&self) -> serde_json::Value {
        json!({ "code": self.code, "msg": self.msg })
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}
