use app::model::{Credentials, TokenView, UserView};
use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde::Deserialize;

use super::{ApiError, Authenticated, Client, JsonBody};
use crate::AppState;

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = Credentials,
    responses(
        (status = 201, body = UserView),
        (status = 409, description = "email already registered", body = ErrorBody),
        (status = 422, description = "malformed email or password", body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    Client(client): Client,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = state
        .keywarden
        .register(&body.email, body.password, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// The OAuth2 password flow's form fields.
#[derive(Deserialize)]
struct PasswordForm {
    username: String,
    password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body(content(
        (Credentials = "application/json"),
        (OAuth2PasswordForm = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, body = TokenView),
        (status = 401, description = "wrong email or password", body = ErrorBody),
        (status = 403, description = "inactive account", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<TokenView>, ApiError> {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let credentials = if is_form {
        let form: PasswordForm = serde_urlencoded::from_bytes(&body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                e.to_string(),
            )
        })?;
        Credentials {
            email: form.username,
            password: form.password,
        }
    } else {
        let Json(credentials) =
            Json::<Credentials>::from_bytes(&body).map_err(super::json_rejection)?;
        credentials
    };
    let token = state
        .keywarden
        .login(&credentials.email, credentials.password, &client)
        .await?;
    Ok(Json(token))
}

#[utoipa::path(get, path = "/api/v1/users/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn me(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(state.keywarden.current_user(&caller).await?))
}

use app::model::ErrorBody;

/// `username` (the email) and `password`, as OAuth2 password-flow clients send them.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OAuth2PasswordForm {
    username: String,
    password: String,
}
