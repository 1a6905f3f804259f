//! The REST API under /api/v1: thin adapters that extract the caller, call one service
//! function and map its result. The OpenAPI document lives in `openapi`.

mod alerts;
mod audit;
mod auth;
mod bot_configs;
mod keys;
mod meta;
mod openapi;

pub use app::http::ApiError;
use app::service::{Access, Caller, ClientInfo, ServiceError};
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{any, delete, get, post};
use serde::de::DeserializeOwned;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(auth::register))
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/login/2fa", post(auth::login_second_factor))
        .route("/api/v1/auth/step-up", post(auth::step_up))
        .route("/api/v1/auth/2fa", get(auth::two_factor_status))
        .route("/api/v1/auth/2fa/setup", post(auth::two_factor_setup))
        .route("/api/v1/auth/2fa/enable", post(auth::two_factor_enable))
        .route("/api/v1/auth/2fa/disable", post(auth::two_factor_disable))
        .route("/api/v1/auth/refresh", post(auth::refresh))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route(
            "/api/v1/auth/logout-everywhere",
            post(auth::logout_everywhere),
        )
        .route("/api/v1/auth/sessions", get(auth::sessions))
        .route("/api/v1/auth/sessions/{id}", delete(auth::revoke_session))
        .route("/api/v1/auth/password", post(auth::change_password))
        .route("/api/v1/users/me", get(auth::me))
        .route("/api/v1/api-keys", post(keys::create))
        .route("/api/v1/api-keys/", post(keys::create))
        .route(
            "/api/v1/api-keys/me",
            get(keys::get)
                .put(keys::replace)
                .patch(keys::rename)
                .delete(keys::delete),
        )
        .route("/api/v1/api-keys/me/validate", post(keys::validate))
        .route("/api/v1/api-keys/balance", get(keys::balance))
        .route(
            "/api/v1/bot-configs",
            post(bot_configs::create).get(bot_configs::list),
        )
        .route(
            "/api/v1/bot-configs/",
            post(bot_configs::create).get(bot_configs::list),
        )
        .route(
            "/api/v1/bot-configs/pause-all",
            post(bot_configs::pause_all),
        )
        .route(
            "/api/v1/bot-configs/resume-all",
            post(bot_configs::resume_all),
        )
        .route(
            "/api/v1/bot-configs/{id}",
            delete(bot_configs::delete).patch(bot_configs::update),
        )
        .route(
            "/api/v1/bot-configs/{id}/tokens",
            post(bot_configs::create_token).get(bot_configs::list_tokens),
        )
        .route(
            "/api/v1/bot-configs/{id}/tokens/{token_id}",
            delete(bot_configs::revoke_token),
        )
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/meta", get(meta::meta))
        .route(
            "/api/v1/alerts/email",
            get(alerts::email).put(alerts::set_email),
        )
        .route("/api/v1/webhooks", post(alerts::create).get(alerts::list))
        .route("/api/v1/webhooks/{id}", delete(alerts::delete))
        .route("/api/v1/webhooks/{id}/test", post(alerts::test))
        .route("/api/v1/webhooks/{id}/deliveries", get(alerts::deliveries))
        .merge(openapi::routes())
        .route("/api/{*rest}", any(not_found))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// An id in a path that is not a number (or beyond i64) names nothing: the same 404 as any
/// other missing resource.
fn path_id(text: &str, missing: ServiceError) -> Result<i64, ServiceError> {
    text.parse().map_err(|_| missing)
}

/// A JSON request body whose rejections are answered in the API's error format.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let code = match &rejection {
        _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        JsonRejection::JsonDataError(_) => "validation_error",
        JsonRejection::JsonSyntaxError(_) => "invalid_json",
        JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
        _ => "invalid_body",
    };
    ApiError::new(rejection.status(), code, rejection.body_text())
}

/// Query parameters whose rejections are answered in the API's error format.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(QueryParams(value)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                rejection.body_text(),
            )),
        }
    }
}

/// The request's client (address, user agent) for the audit trail.
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Client(app::http::client_info(parts)))
    }
}

/// The caller named by the request's bearer token (or session cookie).
pub struct Authenticated(pub Caller);

/// `Authenticated` for what an account must reach before it has the second factor the
/// operator requires (`KEYWARDEN_REQUIRE_2FA`).
pub struct SettingUpSecondFactor(pub Caller);

async fn authenticate(parts: &Parts, state: &AppState, access: Access) -> Result<Caller, ApiError> {
    let credential = app::http::credential(&parts.headers, state.keywarden.secure_cookies());
    let client = app::http::client_info(parts);
    Ok(state
        .keywarden
        .authenticate(credential, client, access)
        .await?)
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state, Access::Full)
            .await
            .map(Authenticated)
    }
}

impl FromRequestParts<AppState> for SettingUpSecondFactor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state, Access::SecondFactorSetup)
            .await
            .map(SettingUpSecondFactor)
    }
}
