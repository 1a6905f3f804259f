use leptos::prelude::*;
use leptos::server_fn::codec::{DeleteUrl, GetUrl, Json};

use super::JsonOrForm;

use crate::model::{
    ErrorBody, RecoveryCodes, SessionView, SignInStep, TwoFactorSetup, TwoFactorStatus, UserView,
};

#[server(prefix = "/api/v1/ui", endpoint = "auth/register", input = JsonOrForm, output = Json)]
pub async fn register(email: String, password: String) -> Result<UserView, ErrorBody> {
    use super::adapter::*;
    let user = keywarden()?
        .register(&email, password, &client())
        .await
        .map_err(fail)?;
    set_status(axum::http::StatusCode::CREATED);
    form_post_lands_on("/login?registered");
    Ok(user)
}

/// Signs the browser in: the session lives in an HttpOnly cookie, never in page scripts. For
/// an account with a second factor, the answer asks for a code, and the challenge waits in a
/// cookie of its own for `login_second_factor`.
#[server(prefix = "/api/v1/ui", endpoint = "auth/login", input = JsonOrForm, output = Json)]
pub async fn login(email: String, password: String) -> Result<SignInStep, ErrorBody> {
    use super::adapter::*;
    use crate::model::SessionKind;
    use crate::service::SignIn;
    let keywarden = keywarden()?;
    let signed_in = keywarden
        .login(&email, password, &client(), SessionKind::Browser)
        .await
        .map_err(fail)?;
    if let SignIn::SecondFactor { challenge } = signed_in {
        const CHALLENGE_MAX_AGE_SECS: i64 = 300;
        set_cookie(crate::http::challenge_cookie(
            &challenge,
            CHALLENGE_MAX_AGE_SECS,
            keywarden.secure_cookies(),
        ));
        form_post_lands_on("/login?second_factor");
        return Ok(SignInStep {
            two_factor_required: true,
        });
    }
    set_browser_session(&keywarden, signed_in);
    form_post_lands_on("/");
    Ok(SignInStep {
        two_factor_required: false,
    })
}

/// The browser's sign-in, second step: a code from the authenticator app (or a recovery code)
/// for the challenge `login` left in its cookie.
#[server(prefix = "/api/v1/ui", endpoint = "auth/login/2fa", input = JsonOrForm, output = Json)]
pub async fn login_second_factor(code: String) -> Result<(), ErrorBody> {
    use super::adapter::*;
    use crate::service::ServiceError;
    let keywarden = keywarden()?;
    let secure = keywarden.secure_cookies();
    let challenge = challenge(secure).ok_or_else(|| {
        fail(ServiceError::NotAuthenticated(
            "the sign-in has expired; sign in again",
        ))
    })?;
    let signed_in = keywarden
        .login_second_factor(&challenge, &code, &client())
        .await
        .map_err(fail)?;
    set_cookie(crate::http::challenge_cookie("", 0, secure));
    set_browser_session(&keywarden, signed_in);
    form_post_lands_on("/");
    Ok(())
}

#[cfg(feature = "ssr")]
fn set_browser_session(keywarden: &crate::service::Keywarden, signed_in: crate::service::SignIn) {
    if let crate::service::SignIn::Browser {
        cookie,
        max_age_secs,
    } = signed_in
    {
        super::adapter::set_cookie(crate::http::session_cookie(
            &cookie,
            max_age_secs,
            keywarden.secure_cookies(),
        ));
    }
}

/// Proves a code for this session, for the changes that need one.
#[server(prefix = "/api/v1/ui", endpoint = "auth/step-up", input = Json, output = Json)]
pub async fn step_up(code: String) -> Result<(), ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden.step_up(&caller, &code).await.map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "auth/2fa", input = GetUrl, output = Json)]
pub async fn second_factor() -> Result<TwoFactorStatus, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller_setting_up().await?;
    keywarden.two_factor_status(&caller).await.map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "auth/2fa/setup", input = Json, output = Json)]
pub async fn set_up_two_factor() -> Result<TwoFactorSetup, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller_setting_up().await?;
    keywarden.set_up_two_factor(&caller).await.map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "auth/2fa/enable", input = Json, output = Json)]
pub async fn enable_two_factor(code: String) -> Result<RecoveryCodes, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller_setting_up().await?;
    keywarden
        .enable_two_factor(&caller, &code)
        .await
        .map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "auth/2fa/disable", input = Json, output = Json)]
pub async fn disable_two_factor() -> Result<(), ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden.disable_two_factor(&caller).await.map_err(fail)
}

/// Ends this browser's session (if any) and clears its cookie.
#[server(prefix = "/api/v1/ui", endpoint = "auth/logout", input = Json, output = Json)]
pub async fn logout() -> Result<(), ErrorBody> {
    use super::adapter::*;
    if let Ok((keywarden, caller)) = caller_setting_up().await {
        keywarden.logout(&caller).await.map_err(fail)?;
    }
    let secure = keywarden()?.secure_cookies();
    set_cookie(crate::http::cleared_session_cookie(secure));
    Ok(())
}

/// Ends every session of the account, this browser's included.
#[server(prefix = "/api/v1/ui", endpoint = "auth/logout-everywhere", input = Json, output = Json)]
pub async fn logout_everywhere() -> Result<u64, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller_setting_up().await?;
    let ended = keywarden.logout_everywhere(&caller).await.map_err(fail)?;
    set_cookie(crate::http::cleared_session_cookie(
        keywarden.secure_cookies(),
    ));
    Ok(ended)
}

#[server(prefix = "/api/v1/ui", endpoint = "auth/sessions", input = GetUrl, output = Json)]
pub async fn list_sessions() -> Result<Vec<SessionView>, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller_setting_up().await?;
    keywarden.sessions(&caller).await.map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "auth/sessions/revoke", input = DeleteUrl, output = Json)]
pub async fn revoke_session(id: String) -> Result<(), ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller_setting_up().await?;
    keywarden.revoke_session(&caller, &id).await.map_err(fail)
}

/// Changes the password; every other session of the account ends.
#[server(prefix = "/api/v1/ui", endpoint = "auth/password", input = Json, output = Json)]
pub async fn change_password(
    current_password: String,
    new_password: String,
) -> Result<(), ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden
        .change_password(&caller, current_password, new_password)
        .await
        .map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "users/me", input = GetUrl, output = Json)]
pub async fn current_user() -> Result<UserView, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller_setting_up().await?;
    keywarden.current_user(&caller).await.map_err(fail)
}
