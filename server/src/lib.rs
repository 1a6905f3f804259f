//! The Keywarden server: configuration, the REST routes, the Leptos site, and the ops CLI.
//! This file wires the parts together; `serve` runs the accept loop.

pub mod cli;
pub mod config;
pub mod gateway;
pub mod guard;
pub mod log_line;
pub mod log_writer;
pub mod ops;
pub mod rest;
mod serve;

pub use serve::{ServeSettings, serve};

use std::sync::Arc;

use app::email_sender::EmailSender;
use app::exchange::{Exchange, ExchangeSettings};
use app::service::{
    AlertSettings, BinanceQuota, GatewayState, Keywarden, Limits, Parts, PasswordHasherPool,
    SessionSettings, SystemClock, Tokens, TwoFactorSettings,
};
use app::store::{PoolSettings, Store};
use app::vault::Vault;
use app::webhook_sender::WebhookSender;
use axum::Router;
use axum::extract::FromRef;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};

use config::Config;

/// Cloned for every request, by each layer that holds it: three reference counts.
#[derive(Clone)]
pub struct AppState {
    pub keywarden: Keywarden,
    pub leptos: Arc<LeptosOptions>,
    pub ops: Arc<ops::Ops>,
}

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        LeptosOptions::clone(&state.leptos)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Other(String),
}

/// Opens the database (applying migrations) and assembles the service.
pub async fn open_store(config: &Config) -> Result<Store, StartError> {
    if let Some(path) = config.database_url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        private_database_file(std::path::Path::new(path))
            .map_err(|e| StartError::Other(format!("{path}: {e}")))?;
    }
    if config.data_dir.is_dir() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| StartError::Other(format!("{}: {e}", config.data_dir.display())))?;
    }
    let pool = PoolSettings {
        max_connections: config.database_max_connections,
        acquire_timeout: config.database_acquire_timeout,
    };
    let store = Store::connect(&config.database_url, pool).await?;
    store.migrate().await?;
    Ok(store)
}

/// The SQLite file and the directory it is made in readable by this user alone: a directory
/// this creates is 0700; the file, and its `-wal` and `-shm` (which SQLite makes with the file's
/// mode), 0600.
fn private_database_file(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    // Only a missing file is opened here: closing a descriptor of a database this process has
    // open elsewhere would drop SQLite's POSIX locks on it.
    if !path.exists() {
        let created = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(path);
        match created {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

pub async fn build_keywarden(config: &Config) -> Result<Keywarden, StartError> {
    build_keywarden_with_clock(config, Arc::new(SystemClock)).await
}

/// `build_keywarden` reading the time from `clock` (tests move it forward).
pub async fn build_keywarden_with_clock(
    config: &Config,
    clock: Arc<dyn app::service::Clock>,
) -> Result<Keywarden, StartError> {
    let store = open_store(config).await?;
    let vault = Vault::new(config.fernet_keys.iter().map(String::as_str))
        .map_err(|e| StartError::Other(e.to_string()))?
        .refusing_bare_tokens(config.refuse_bare_tokens);
    let exchange = Exchange::new(ExchangeSettings {
        timeout: config.binance_timeout,
        connect_timeout: config.binance_connect_timeout,
        recv_window_ms: config.binance_recv_window_ms,
        max_concurrent: config.binance_concurrency,
        ..ExchangeSettings::new(
            config.binance_base_url.clone(),
            config.binance_testnet_base_url.clone(),
        )
    })
    .map_err(|e| StartError::Other(e.to_string()))?;
    let duration = |d: std::time::Duration| {
        chrono::Duration::from_std(d).map_err(|e| StartError::Other(e.to_string()))
    };
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Ok(Keywarden::new(Parts {
        store,
        vault,
        exchange,
        tokens: Tokens::new(config.jwt_secret.as_bytes(), duration(config.token_ttl)?),
        passwords: PasswordHasherPool::new(config.password_hash_concurrency as usize),
        gateway: GatewayState::default(),
        sessions: SessionSettings {
            idle: duration(config.session_idle)?,
            max_age: duration(config.session_max_age)?,
        },
        binance_quota: BinanceQuota::new(config.binance_calls_per_minute),
        limits: Limits {
            login_failures_per_account: count(config.login_failures_per_account),
            login_failures_per_ip: count(config.login_failures_per_ip),
            login_window: duration(config.login_window)?,
            registrations_per_ip: count(config.registrations_per_ip),
            register_window: duration(config.register_window)?,
        },
        two_factor: TwoFactorSettings {
            step_up_window: duration(config.step_up_window)?,
            required: config.require_two_factor,
        },
        clock,
        alerts: AlertSettings::new(
            WebhookSender::new(config.webhook_private_addresses.clone())
                .map_err(|e| StartError::Other(e.to_string()))?,
            match &config.smtp {
                Some(smtp) => Some(
                    EmailSender::new(&smtp.url, &smtp.from)
                        .map_err(|e| StartError::Other(e.to_string()))?,
                ),
                None => None,
            },
            duration(config.webhook_retry_for)?,
        ),
        secure_cookies: config.secure_cookies(),
        allow_withdrawal_keys: config.allow_withdrawal_keys,
        egress_ips: config.egress_ips.clone(),
        public_url: config.public_url.trim_end_matches('/').to_owned(),
    }))
}

/// The whole HTTP surface: REST API, OpenAPI docs, server functions and pages (and `/metrics`,
/// unless `KEYWARDEN_METRICS_ADDR` gives it an address of its own: see `routers`).
pub fn router(keywarden: Keywarden, config: &Config) -> Router {
    routers(keywarden, config).public
}

/// What the server answers: on its address, and on `KEYWARDEN_METRICS_ADDR` if set.
pub struct Routers {
    pub public: Router,
    pub metrics: Option<Router>,
}

pub fn routers(keywarden: Keywarden, config: &Config) -> Routers {
    let leptos = LeptosOptions::builder()
        .output_name("keywarden")
        .site_root(config.site_root.clone())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .build();
    let ops = ops::Ops::new(config);
    let state = AppState {
        keywarden: keywarden.clone(),
        leptos: Arc::new(leptos),
        ops: ops.clone(),
    };
    let routes = generate_route_list(app::App);
    let site = Router::new()
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(keywarden.clone());
                // The page's inline scripts carry the nonce the guard put in the CSP header.
                let nonce = use_context::<axum::http::request::Parts>()
                    .and_then(|parts| parts.extensions.get::<app::http::CspNonce>().cloned());
                if let Some(app::http::CspNonce(nonce)) = nonce {
                    provide_context(leptos::nonce::Nonce::from_value(nonce));
                }
            },
            {
                let options = LeptosOptions::clone(&state.leptos);
                move || app::shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ));
    let mut api = rest::routes();
    if !config.cors_origins.is_empty() {
        api = api.layer(cors(&config.cors_origins));
    }
    let separate_metrics = config.metrics_addr.is_some();
    let metrics = separate_metrics.then(|| ops::metrics_routes().with_state(state.clone()));
    let public = api
        .merge(site)
        .merge(gateway::routes())
        .merge(ops::routes(!separate_metrics))
        .layer(axum::middleware::from_fn_with_state(ops, ops::observe))
        .with_state(state);
    Routers { public, metrics }
}

/// Lets scripts on the listed origins call the REST API with bearer tokens (never cookies).
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderValue, Method, header};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(600))
}

/// Re-checks every key with Binance on an interval, in the background. Each instance ticks
/// at a jittered pace; the database hands each due key to one of them.
pub fn spawn_revalidation(
    keywarden: Keywarden,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    const BATCH: i64 = 100;
    const CONCURRENCY: usize = 4;
    let chrono_every = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::hours(6));
    let tick = (every / 10).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(60),
    );
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(tick + jitter(tick / 2)).await;
            match keywarden
                .revalidate_due_keys(chrono_every, BATCH, CONCURRENCY)
                .await
            {
                Ok(0) => {}
                Ok(checked) => tracing::info!(checked, "re-checked keys with Binance"),
                Err(err) => tracing::warn!("background key checks: {err}"),
            }
        }
    })
}

/// Sends queued webhook deliveries: at once when this instance raises an alert, and on a
/// short poll for retries and for alerts other instances raised.
pub fn spawn_alert_deliveries(keywarden: Keywarden) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let poll = keywarden.alert_poll();
        loop {
            keywarden.alerts_or_timeout(poll + jitter(poll / 4)).await;
            if let Err(err) = keywarden.send_due_alerts().await {
                tracing::warn!("webhook deliveries: {err}");
                tokio::time::sleep(poll).await;
            }
        }
    })
}

/// Deletes expired sessions, refresh tokens, sign-in challenges and limit counters, about every
/// ten minutes; every instance may, and whichever runs first finds the work done.
pub fn spawn_purge(keywarden: Keywarden) -> tokio::task::JoinHandle<()> {
    let every = std::time::Duration::from_secs(600);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every + jitter(every / 4)).await;
            match keywarden.purge_expired().await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "expired sessions and counters deleted"),
                Err(err) => tracing::warn!("purging expired sessions: {err}"),
            }
        }
    })
}

fn jitter(max: std::time::Duration) -> std::time::Duration {
    let mut bytes = [0u8; 8];
    if getrandom::getrandom(&mut bytes).is_err() {
        return std::time::Duration::ZERO;
    }
    let fraction = u64::from_le_bytes(bytes) as f64 / u64::MAX as f64;
    max.mul_f64(fraction)
}
