use leptos::prelude::*;
use leptos::server_fn::codec::{DeleteUrl, GetUrl, Json};

use super::JsonOrForm;

use crate::model::{ErrorBody, SessionView, UserView};

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

/// Signs the browser in: the session lives in an HttpOnly cookie, never in page scripts.
#[server(prefix = "/api/v1/ui", endpoint = "auth/login", input = JsonOrForm, output = Json)]
pub async fn login(email: String, password: String) -> Result<(), ErrorBody> {
    use super::adapter::*;
    use crate::model::SessionKind;
    use crate::service::SignIn;
    let keywarden = keywarden()?;
    let signed_in = keywarden
        .login(&email, password, &client(), SessionKind::Browser)
        .await
        .map_err(fail)?;
    if let SignIn::Browser {
        cookie,
        max_age_secs,
    } = signed_in
    {
        set_cookie(crate::http::session_cookie(
            &cookie,
            max_age_secs,
            keywarden.secure_cookies(),
        ));
    }
    form_post_lands_on("/");
    Ok(())
}

/// Ends this browser's session (if any) and clears its cookie.
#[server(prefix = "/api/v1/ui", endpoint = "auth/logout", input = Json, output = Json)]
pub async fn logout() -> Result<(), ErrorBody> {
    use super::adapter::*;
    if let Ok((keywarden, caller)) = caller().await {
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
    let (keywarden, caller) = caller().await?;
    let ended = keywarden.logout_everywhere(&caller).await.map_err(fail)?;
    set_cookie(crate::http::cleared_session_cookie(
        keywarden.secure_cookies(),
    ));
    Ok(ended)
}

#[server(prefix = "/api/v1/ui", endpoint = "auth/sessions", input = GetUrl, output = Json)]
pub async fn list_sessions() -> Result<Vec<SessionView>, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden.sessions(&caller).await.map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "auth/sessions/revoke", input = DeleteUrl, output = Json)]
pub async fn revoke_session(id: String) -> Result<(), ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
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
    let (keywarden, caller) = caller().await?;
    keywarden.current_user(&caller).await.map_err(fail)
}
