use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::get;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Keywarden", description = "Binance API key custody for trading bots."),
    paths(
        super::auth::register,
        super::auth::login,
        super::auth::login_second_factor,
        super::auth::step_up,
        super::auth::two_factor_status,
        super::auth::two_factor_setup,
        super::auth::two_factor_enable,
        super::auth::two_factor_disable,
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
        super::bot_configs::update,
        super::bot_configs::delete,
        super::bot_configs::pause_all,
        super::bot_configs::resume_all,
        super::bot_configs::create_token,
        super::bot_configs::list_tokens,
        super::bot_configs::revoke_token,
        super::audit::list,
        super::meta::meta,
        super::alerts::create,
        super::alerts::list,
        super::alerts::delete,
        super::alerts::test,
        super::alerts::deliveries,
        super::alerts::email,
        super::alerts::set_email,
    ),
    modifiers(&BearerAuth, &CommonResponses)
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

/// The answers any operation may give that no handler writes itself: malformed or oversized
/// bodies, the wrong content type, a request too slow, a server too busy.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        let for_bodies = [
            ("400", "the body is not JSON (invalid_json, invalid_body)"),
            ("413", "the body is over 64 KiB (payload_too_large)"),
            (
                "415",
                "the body is not sent as application/json (unsupported_media_type)",
            ),
            (
                "422",
                "the body is JSON of the wrong shape (validation_error)",
            ),
        ];
        let for_all = [
            (
                "408",
                "the request took too long to arrive or to answer (body_timeout, request_timeout)",
            ),
            (
                "422",
                "a path, query or body holds a NUL character (validation_error)",
            ),
            (
                "429",
                "too many requests in flight from the address (too_many_requests), with Retry-After",
            ),
            (
                "503",
                "too many requests in flight (overloaded), with Retry-After",
            ),
        ];
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let has_body = operation.request_body.is_some();
                let responses = &mut operation.responses.responses;
                let extra = for_all.iter().chain(for_bodies.iter().filter(|_| has_body));
                for (status, description) in extra {
                    responses
                        .entry((*status).to_owned())
                        .or_insert_with(|| error(description).into());
                }
            }
        }
    }
}

const DOCUMENT_PATH: &str = "/api/openapi.json";

/// `/api/openapi.json` and the Swagger UI at `/api/docs` (served from the binary, no CDN).
/// The document is written out once and kept as its JSON text: the structure it is built from
/// was about 2 MiB of the heap live at rest.
pub fn routes() -> Router<AppState> {
    let document = Bytes::from(
        ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document is valid JSON"),
    );
    let swagger_ui: Router<AppState> = SwaggerUi::new("/api/docs")
        .config(Config::from(DOCUMENT_PATH))
        .into();
    swagger_ui.route(
        DOCUMENT_PATH,
        get(|| async move { ([(header::CONTENT_TYPE, "application/json")], document) }),
    )
}
