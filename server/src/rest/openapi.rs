use axum::Router;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Keywarden", description = "Binance API key custody for trading bots."),
    paths(
        super::auth::register,
        super::auth::login,
        super::auth::refresh,
        super::auth::logout,
        super::auth::logout_everywhere,
        super::auth::sessions,
        super::auth::revoke_session,
        super::auth::change_password,
        super::auth::me,
        super::keys::create,
        super::keys::get,
        super::keys::replace,
        super::keys::rename,
        super::keys::delete,
        super::keys::validate,
        super::keys::balance,
        super::bot_configs::create,
        super::bot_configs::list,
        super::bot_configs::delete,
        super::audit::list,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// `/api/openapi.json` and the Swagger UI at `/api/docs` (served from the binary, no CDN).
pub fn routes() -> Router<AppState> {
    SwaggerUi::new("/api/docs")
        .url("/api/openapi.json", ApiDoc::openapi())
        .into()
}
