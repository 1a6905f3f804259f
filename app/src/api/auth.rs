use leptos::prelude::*;
use leptos::server_fn::codec::{GetUrl, Json};

use crate::model::{ErrorBody, UserView};

#[server(prefix = "/api/v1/ui", endpoint = "auth/register", input = Json, output = Json)]
pub async fn register(email: String, password: String) -> Result<UserView, ErrorBody> {
    use super::adapter::*;
    let user = keywarden()?
        .register(&email, password, &client())
        .await
        .map_err(fail)?;
    set_status(axum::http::StatusCode::CREATED);
    Ok(user)
}

/// Signs the browser in: the token goes into an HttpOnly cookie, never to page scripts.
#[server(prefix = "/api/v1/ui", endpoint = "auth/login", input = Json, output = Json)]
pub async fn login(email: String, password: String) -> Result<(), ErrorBody> {
    use super::adapter::*;
    let keywarden = keywarden()?;
    let token = keywarden
        .login(&email, password, &client())
        .await
        .map_err(fail)?;
    set_cookie(crate::session::session_cookie(
        &token.access_token,
        token.expires_in,
        keywarden.secure_cookies(),
    ));
    Ok(())
}

#[server(prefix = "/api/v1/ui", endpoint = "auth/logout", input = Json, output = Json)]
pub async fn logout() -> Result<(), ErrorBody> {
    use super::adapter::*;
    set_cookie(crate::session::cleared_session_cookie());
    Ok(())
}

#[server(prefix = "/api/v1/ui", endpoint = "users/me", input = GetUrl, output = Json)]
pub async fn current_user() -> Result<UserView, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden.current_user(&caller).await.map_err(fail)
}
