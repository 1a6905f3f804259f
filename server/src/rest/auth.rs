use app::model::{
    Credentials, PasswordChange, RecoveryCodes, RefreshRequest, SecondFactorAnswer,
    SecondFactorChallenge, SessionKind, SessionView, TokenView, TwoFactorCode, TwoFactorSetup,
    TwoFactorStatus, UserView,
};
use app::service::{ServiceError, SignIn};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde::Deserialize;

use super::{ApiError, Authenticated, Client, JsonBody, SettingUpSecondFactor};
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
        (status = 200, description = "a new API session (access and refresh tokens); or, for an account with a second factor, a challenge to answer at POST /api/v1/auth/login/2fa", body = SignInAnswer),
        (status = 401, description = "wrong email or password (a deactivated account's too)", body = ErrorBody),
        (status = 429, description = "too many failed sign-ins for the account or from the address; see Retry-After", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SignInAnswer>, ApiError> {
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
        SignIn::SecondFactor { challenge } => {
            Ok(Json(SignInAnswer::SecondFactor(SecondFactorChallenge {
                two_factor_required: true,
                challenge,
            })))
        }
        signed_in => Ok(Json(SignInAnswer::Tokens(api_tokens(signed_in)?))),
    }
}

/// What a sign-in answers: tokens, or the challenge of an account with a second factor.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum SignInAnswer {
    Tokens(TokenView),
    SecondFactor(SecondFactorChallenge),
}

fn api_tokens(signed_in: SignIn) -> Result<TokenView, ApiError> {
    match signed_in {
        SignIn::Api(tokens) => Ok(tokens),
        _ => Err(ServiceError::Internal.into()),
    }
}

#[utoipa::path(post, path = "/api/v1/auth/login/2fa", tag = "auth", request_body = SecondFactorAnswer,
    responses(
        (status = 200, description = "the sign-in is complete: a new API session, stepped up", body = TokenView),
        (status = 400, description = "the code is not correct or was used before (invalid_code)", body = ErrorBody),
        (status = 401, description = "the challenge is unknown or expired: sign in again", body = ErrorBody),
        (status = 429, description = "too many wrong codes or passwords; see Retry-After", body = ErrorBody)))]
pub async fn login_second_factor(
    State(state): State<AppState>,
    Client(client): Client,
    JsonBody(body): JsonBody<SecondFactorAnswer>,
) -> Result<Json<TokenView>, ApiError> {
    let signed_in = state
        .keywarden
        .login_second_factor(&body.challenge, &body.code, &client)
        .await?;
    Ok(Json(api_tokens(signed_in)?))
}

#[utoipa::path(post, path = "/api/v1/auth/step-up", tag = "auth", security(("bearer" = [])),
    request_body = TwoFactorCode,
    responses(
        (status = 204, description = "proved: for KEYWARDEN_STEP_UP_WINDOW, this session may make the changes that need a code"),
        (status = 400, description = "the code is not correct or was used before (invalid_code)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "the account has no second factor (two_factor_disabled)", body = ErrorBody),
        (status = 429, description = "too many wrong codes; see Retry-After", body = ErrorBody)))]
pub async fn step_up(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(body): JsonBody<TwoFactorCode>,
) -> Result<StatusCode, ApiError> {
    state.keywarden.step_up(&caller, &body.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/auth/2fa", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = TwoFactorStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn two_factor_status(
    State(state): State<AppState>,
    SettingUpSecondFactor(caller): SettingUpSecondFactor,
) -> Result<Json<TwoFactorStatus>, ApiError> {
    Ok(Json(state.keywarden.two_factor_status(&caller).await?))
}

#[utoipa::path(post, path = "/api/v1/auth/2fa/setup", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "a new secret for the authenticator app; in force once POST /api/v1/auth/2fa/enable confirms it", body = TwoFactorSetup),
        (status = 401, body = ErrorBody),
        (status = 409, description = "the second factor is already on (two_factor_enabled)", body = ErrorBody)))]
pub async fn two_factor_setup(
    State(state): State<AppState>,
    SettingUpSecondFactor(caller): SettingUpSecondFactor,
) -> Result<Json<TwoFactorSetup>, ApiError> {
    Ok(Json(state.keywarden.set_up_two_factor(&caller).await?))
}

#[utoipa::path(post, path = "/api/v1/auth/2fa/enable", tag = "auth", security(("bearer" = [])),
    request_body = TwoFactorCode,
    responses(
        (status = 200, description = "the second factor is on; ten one-time recovery codes, shown this once", body = RecoveryCodes),
        (status = 400, description = "the code is not correct (invalid_code)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "nothing set up to confirm, or already on", body = ErrorBody)))]
pub async fn two_factor_enable(
    State(state): State<AppState>,
    SettingUpSecondFactor(caller): SettingUpSecondFactor,
    JsonBody(body): JsonBody<TwoFactorCode>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    Ok(Json(
        state
            .keywarden
            .enable_two_factor(&caller, &body.code)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/auth/2fa/disable", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "the second factor and its recovery codes are gone"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "step_up_required: prove a code first (POST /api/v1/auth/step-up)", body = ErrorBody),
        (status = 409, description = "the second factor is off", body = ErrorBody)))]
pub async fn two_factor_disable(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<StatusCode, ApiError> {
    state.keywarden.disable_two_factor(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
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
    SettingUpSecondFactor(caller): SettingUpSecondFactor,
) -> Result<StatusCode, ApiError> {
    state.keywarden.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/auth/logout-everywhere", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "every session of the account has ended, this one included"),
        (status = 401, body = ErrorBody)))]
pub async fn logout_everywhere(
    State(state): State<AppState>,
    SettingUpSecondFactor(caller): SettingUpSecondFactor,
) -> Result<StatusCode, ApiError> {
    state.keywarden.logout_everywhere(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "the account's sessions in force, newest first", body = [SessionView]),
        (status = 401, body = ErrorBody)))]
pub async fn sessions(
    State(state): State<AppState>,
    SettingUpSecondFactor(caller): SettingUpSecondFactor,
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
    SettingUpSecondFactor(caller): SettingUpSecondFactor,
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
    SettingUpSecondFactor(caller): SettingUpSecondFactor,
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
