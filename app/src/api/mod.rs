//! Server functions: the browser's only door to the server. Each one is a thin adapter over one
//! service call, at a stable path under /api/v1/ui/ that REST clients may call with a bearer
//! token too.

mod alerts;
mod audit;
mod auth;
mod bots;
mod codec;
mod keys;

pub use alerts::*;
pub use audit::*;
pub use auth::*;
pub use bots::*;
pub use keys::*;

pub use codec::JsonOrForm;

#[cfg(feature = "ssr")]
mod adapter {
    use axum::http::header::SET_COOKIE;
    use axum::http::{HeaderValue, StatusCode, request::Parts};
    use leptos::prelude::use_context;
    use leptos_axum::ResponseOptions;

    use crate::model::{Environment, ErrorBody, NewApiKey};
    use crate::service::{Access, Caller, Keywarden, ServiceError};

    pub fn keywarden() -> Result<Keywarden, ErrorBody> {
        use_context::<Keywarden>().ok_or_else(|| fail(ServiceError::Internal))
    }

    /// The service and the authenticated caller of this request.
    pub async fn caller() -> Result<(Keywarden, Caller), ErrorBody> {
        caller_with(Access::Full).await
    }

    /// `caller` for what an account must reach before it has the second factor the operator
    /// requires.
    pub async fn caller_setting_up() -> Result<(Keywarden, Caller), ErrorBody> {
        caller_with(Access::SecondFactorSetup).await
    }

    async fn caller_with(access: Access) -> Result<(Keywarden, Caller), ErrorBody> {
        let keywarden = keywarden()?;
        let parts = use_context::<Parts>().ok_or_else(|| fail(ServiceError::Internal))?;
        let credential = crate::http::credential(&parts.headers, keywarden.secure_cookies());
        let client = crate::http::client_info(&parts);
        let caller = keywarden
            .authenticate(credential, client, access)
            .await
            .map_err(fail)?;
        Ok((keywarden, caller))
    }

    /// Server functions also run inside page rendering; only a call over HTTP sets the status,
    /// so a page that shows "no key yet" is still a 200. A plain form post is answered with a
    /// redirect, whose status must stay.
    fn called_over_http() -> bool {
        use_context::<Parts>().is_some_and(|parts| parts.uri.path().starts_with("/api/"))
            && !plain_form_post()
    }

    /// A browser's form sent without the page's script (before the WebAssembly loaded, or with
    /// JavaScript off): it asks for a page, not JSON. Leptos answers it with a redirect back to
    /// the form's page, carrying any error in the query.
    fn plain_form_post() -> bool {
        use_context::<Parts>().is_some_and(|parts| {
            parts
                .headers
                .get(axum::http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html"))
        })
    }

    /// Where a plain form post lands once it succeeded, instead of the form's own page. The
    /// page's script does its own navigation, so a call from it is left alone.
    pub fn form_post_lands_on(path: &'static str) {
        if plain_form_post()
            && let Some(response) = use_context::<ResponseOptions>()
        {
            response.set_status(StatusCode::SEE_OTHER);
            response.insert_header(axum::http::header::LOCATION, HeaderValue::from_static(path));
        }
    }

    /// Answers with the error's status, headers and JSON body, as the REST routes do.
    pub fn fail(err: ServiceError) -> ErrorBody {
        let answer = crate::http::ApiError::from(err);
        if called_over_http()
            && let Some(response) = use_context::<ResponseOptions>()
        {
            response.set_status(answer.status);
            for (name, value) in answer.headers() {
                response.insert_header(name, value);
            }
        }
        answer.body
    }

    /// The form's fields as the service takes them.
    pub fn key_pair(
        api_key: String,
        secret_key: String,
        label: Option<String>,
        environment: Option<Environment>,
    ) -> NewApiKey {
        NewApiKey {
            api_key,
            secret_key,
            label,
            environment: environment.unwrap_or_default(),
        }
    }

    /// The request's client, for the audit trail of calls made before sign-in.
    pub fn client() -> crate::service::ClientInfo {
        use_context::<Parts>()
            .map(|parts| crate::http::client_info(&parts))
            .unwrap_or_default()
    }

    /// The sign-in challenge this browser holds (`crate::http::challenge`).
    pub fn challenge(secure: bool) -> Option<String> {
        let parts = use_context::<Parts>()?;
        crate::http::challenge(&parts.headers, secure).map(str::to_owned)
    }

    pub fn set_status(status: StatusCode) {
        if !called_over_http() {
            return;
        }
        if let Some(response) = use_context::<ResponseOptions>() {
            response.set_status(status);
        }
    }

    pub fn set_cookie(cookie: String) {
        if let (Some(response), Ok(value)) = (
            use_context::<ResponseOptions>(),
            HeaderValue::from_str(&cookie),
        ) {
            response.append_header(SET_COOKIE, value);
        }
    }
}
