//! Faults the tests switch on: what the exchange does instead of, or besides, answering.

use std::collections::VecDeque;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::Rejection;

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer normally.
    None,
    /// Wait this long before handling the request.
    Delay(Duration),
    /// Handle the request (place the order, cancel it …), then wait this long before
    /// answering: a client that times out meanwhile cannot tell whether it was done.
    DelayAfterExecuting(Duration),
    /// Answer 500 with an HTML page.
    ServerError,
    /// Answer 200 with a body that is not JSON.
    Garbage,
    /// The exchange's clock runs this many milliseconds ahead of ours (negative: behind).
    ClockSkew(i64),
    /// Answer 429 with `Retry-After` (seconds), as Binance does past its rate limit.
    RateLimited(u64),
    /// Answer 418 with `Retry-After` (seconds): the IP is banned.
    Banned(u64),
    /// Start a 200 response and break the connection halfway through the body.
    ResetMidResponse,
    /// Report this much used request weight in `X-MBX-USED-WEIGHT-1M`.
    UsedWeight(u32),
    /// Answer 307 to this URL: an exchange (or something posing as it) that sends the client,
    /// its signed request and its API key elsewhere.
    Redirect(String),
}

/// A standing fault and the faults queued for the next requests, one each.
#[derive(Default)]
pub(crate) struct FaultPlan {
    pub standing: Option<Fault>,
    pub next: VecDeque<Fault>,
}

impl FaultPlan {
    /// The fault for the request now arriving.
    pub fn take(&mut self) -> Option<Fault> {
        self.next.pop_front().or_else(|| self.standing.clone())
    }
}

/// The answer a fault gives in place of handling the request, if it gives one.
pub(crate) fn answer_instead(fault: &Fault) -> Option<Response> {
    match fault {
        Fault::ServerError => Some(
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<html>Internal error</html>",
            )
                .into_response(),
        ),
        Fault::Garbage => Some((StatusCode::OK, "<html>not json</html>").into_response()),
        Fault::Redirect(location) => Some(
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, location.clone())],
            )
                .into_response(),
        ),
        Fault::RateLimited(seconds) => {
            let too_many = "Too much request weight used; current limit is 6000 request weight \
                            per 1 MINUTE.";
            let rejection = Rejection::new(StatusCode::TOO_MANY_REQUESTS, -1003, too_many);
            Some(retry_after(rejection, *seconds))
        }
        Fault::Banned(seconds) => {
            let banned = "Way too much request weight used; IP banned.";
            let rejection = Rejection::new(StatusCode::IM_A_TEAPOT, -1003, banned);
            Some(retry_after(rejection, *seconds))
        }
        Fault::ResetMidResponse => {
            let chunks: Vec<Result<&'static str, std::io::Error>> = vec![
                Ok("{\"makerCommission\":10,\"balan"),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "reset",
                )),
            ];
            let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
            Some((StatusCode::OK, [("content-type", "application/json")], body).into_response())
        }
        Fault::None
        | Fault::Delay(_)
        | Fault::DelayAfterExecuting(_)
        | Fault::ClockSkew(_)
        | Fault::UsedWeight(_) => None,
    }
}

pub(crate) fn retry_after(rejection: Rejection, seconds: u64) -> Response {
    let mut response = rejection.into_response();
    response.headers_mut().insert("retry-after", seconds.into());
    response
}
