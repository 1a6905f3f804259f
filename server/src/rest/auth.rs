use app::model::{
    Credentials, PasswordChange, RefreshRequest, SessionKind, SessionView, TokenView, UserView,
};
use app::service::{ServiceError, SignIn};
use axum::Json;
use axum::extract::{Path, State};
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
        (status = 422, description = "malformed email or password", body = ErrorBody),
        (status = 429, description = "too many registrations from the address; see Retry-After", body = ErrorBody)))]
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
        (status = 200, description = "a new API session: access and refresh tokens", body = TokenView),
        (status = 401, description = "wrong email or password", body = ErrorBody),
        (status = 403, description = "inactive account", body = ErrorBody),
        (status = 429, description = "too many failed sign-ins for the account or from the address; see Retry-After", body = ErrorBody)))]
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
    match state
        .keywarden
        .login(
            &credentials.email,
            credentials.password,
            &client,
            SessionKind::Api,
        )
        .await?
    {
        SignIn::Api(tokens) => Ok(Json(tokens)),
        SignIn::Browser { .. } => Err(ServiceError::Internal.into()),
    }
}

#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "a new access token and a new refresh token; the one sent is used up", body = TokenView),
        (status = 401, description = "unknown, expired or revoked; a used refresh token revokes its session", body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(
        state
            .keywarden
            .refresh(&body.refresh_token, &client)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "the session (every token of it) has ended"),
        (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<StatusCode, ApiError> {
    state.keywarden.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/auth/logout-everywhere", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "every session of the account has ended, this one included"),
        (status = 401, body = ErrorBody)))]
pub async fn logout_everywhere(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<StatusCode, ApiError> {
    state.keywarden.logout_everywhere(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "the account's sessions in force, newest first", body = [SessionView]),
        (status = 401, body = ErrorBody)))]
pub async fn sessions(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    Ok(Json(state.keywarden.sessions(&caller).await?))
}

#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path, description = "a session id from GET /api/v1/auth/sessions")),
    responses((status = 204, description = "the session has ended"),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such live session of the caller", body = ErrorBody)))]
pub async fn revoke_session(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.keywarden.revoke_session(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", security(("bearer" = [])),
    request_body = PasswordChange,
    responses((status = 204, description = "changed; every other session has ended"),
        (status = 400, description = "the current password is wrong (wrong_password)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 422, description = "the new password is not 8-128 characters", body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(body): JsonBody<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    state
        .keywarden
        .change_password(&caller, body.current_password, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
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
