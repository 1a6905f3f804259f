//! Starts the real Keywarden server on an ephemeral port, on SQLite or PostgreSQL, against a
//! fake Binance, and talks to it over HTTP. The server reads the time from `TestServer::clock`,
//! which a test can move forward.
//!
//! Every log line the server writes (at `RUST_LOG`, `trace` unless set) is captured in memory;
//! `finish` fails the test if any credential, password or server secret the tests use appears
//! in it.

#![allow(dead_code)] // each test file uses a different part of the harness

pub mod smtp_server;
pub mod webhook_receiver;

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Once};

use app::store::{Pool, Store};
use chrono::{DateTime, Utc};
use fake_exchange::FakeExchange;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server::config::Config;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const JWT_SECRET: &str = "integration-tests-jwt-secret-of-enough-length";

/// The server's clock: the real time plus an offset that a test moves forward.
#[derive(Default)]
pub struct TestClock {
    offset_ms: AtomicI64,
}

impl TestClock {
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

impl app::service::Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }
}

/// Runs each named `async fn(Backend)` once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::harness::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::harness::Backend::Postgres).await })*
        }
    };
}

enum Database {
    Sqlite {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
    },
    Postgres {
        admin_url: String,
        name: String,
    },
}

pub struct TestServer {
    pub base: String,
    pub exchange: FakeExchange,
    pub testnet: FakeExchange,
    pub store: Store,
    /// The Fernet key the server started with.
    pub fernet_key: String,
    pub http: reqwest::Client,
    /// The time every instance of the server reads.
    pub clock: Arc<TestClock>,
    database: Database,
    /// The environment the running server was configured from.
    env: HashMap<&'static str, String>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _data_dir: tempfile::TempDir,
}

/// What the captured logs must never contain: every credential the tests hand the server,
/// the password `user` registers with, and the server's own secrets.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogSink;

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "trace".into());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .with_writer(|| LogSink)
            .try_init();
        let pem_bodies = [
            fake_exchange::DEMO_ED25519_PRIVATE_KEY,
            fake_exchange::DEMO_RSA_PRIVATE_KEY,
        ]
        .into_iter()
        .flat_map(|pem| pem.lines().filter(|line| !line.starts_with("-----")));
        let mut secrets = SECRETS.lock().unwrap();
        secrets.extend(
            [
                fake_exchange::DEMO_API_KEY,
                fake_exchange::DEMO_SECRET_KEY,
                fake_exchange::DEMO_ED25519_API_KEY,
                fake_exchange::DEMO_RSA_API_KEY,
                PASSWORD,
                JWT_SECRET,
            ]
            .into_iter()
            .chain(pem_bodies)
            .map(str::to_owned),
        );
    });
}

/// Adds a value the logs must never contain.
pub fn secret(value: &str) {
    SECRETS.lock().unwrap().push(value.to_owned());
}

/// Fails if any registered secret appears in what the server has logged so far.
pub fn assert_no_secret_in_logs() {
    let logs = String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned();
    for secret in SECRETS.lock().unwrap().iter() {
        if let Some(line) = logs.lines().find(|line| line.contains(secret.as_str())) {
            panic!("a secret appears in the server's logs: {line}");
        }
    }
}

/// The server's log lines at ERROR (for a failing test's message).
pub fn error_lines() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap())
        .lines()
        .filter(|line| line.contains("ERROR"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether the server has logged a line containing `text`.
pub fn logs_contain(text: &str) -> bool {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).contains(text)
}

pub const PASSWORD: &str = "correct horse battery";

fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, HashMap::new()).await
    }

    /// `overrides` replace the environment the server is configured from.
    pub async fn start_with(backend: Backend, overrides: HashMap<&'static str, String>) -> Self {
        capture_logs();
        let exchange = FakeExchange::start().await.expect("fake exchange starts");
        let testnet = FakeExchange::start_testnet()
            .await
            .expect("fake testnet starts");
        let database = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("keywarden.db");
                Database::Sqlite { _dir: dir, path }
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let name = format!("keywarden_test_{}", random_suffix());
                let admin = sqlx::PgPool::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at {admin_url} is required for these tests (make test starts it): {e}")
                });
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&admin)
                    .await
                    .expect("create the test database");
                admin.close().await;
                Database::Postgres { admin_url, name }
            }
        };
        let database_url = match &database {
            Database::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            Database::Postgres { admin_url, name } => {
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(b, _)| b)
                    .unwrap_or(admin_url);
                format!("{base}/{name}")
            }
        };
        let data_dir = tempfile::tempdir().unwrap();
        let fernet_key = app::vault::Vault::generate_key();
        secret(&fernet_key);
        let mut env: HashMap<&'static str, String> = HashMap::from([
            ("DATABASE_URL", database_url),
            ("FERNET_KEY", fernet_key.clone()),
            ("JWT_SECRET", JWT_SECRET.into()),
            ("BINANCE_BASE_URL", exchange.url()),
            ("BINANCE_TESTNET_BASE_URL", testnet.url()),
            ("BINANCE_TIMEOUT_MS", "1000".into()),
            ("KEYWARDEN_ADDR", "127.0.0.1:0".into()),
            ("KEYWARDEN_DATA_DIR", data_dir.path().display().to_string()),
            // Every test client is 127.0.0.1: the load tests send far more at once than the
            // per-address bound a production server keeps (its own test sets it).
            ("KEYWARDEN_MAX_IN_FLIGHT_PER_ADDRESS", "100000".into()),
            // The load tests make more Binance calls for one account than its share (its own
            // test sets it).
            ("KEYWARDEN_BINANCE_CALLS_PER_MINUTE", "100000000".into()),
        ]);
        env.extend(overrides);
        let clock = Arc::new(TestClock::default());
        let (base, store, tasks) = Self::launch(&env, &clock).await;
        TestServer {
            base,
            exchange,
            testnet,
            store,
            fernet_key,
            http: reqwest::Client::builder()
                .user_agent("keywarden-tests")
                .build()
                .unwrap(),
            clock,
            database,
            env,
            tasks,
            _data_dir: data_dir,
        }
    }

    async fn launch(
        env: &HashMap<&'static str, String>,
        clock: &Arc<TestClock>,
    ) -> (String, Store, Vec<tokio::task::JoinHandle<()>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut env = env.clone();
        env.entry("KEYWARDEN_PUBLIC_URL")
            .or_insert_with(|| base.clone());
        let config = Config::from_lookup(|name| env.get(name).cloned()).expect("valid config");
        let keywarden = server::build_keywarden_with_clock(&config, clock.clone())
            .await
            .expect("server builds");
        let store = keywarden.store().clone();
        let revalidation = server::spawn_revalidation(keywarden.clone(), config.revalidate_every);
        let deliveries = server::spawn_alert_deliveries(keywarden.clone());
        let router = server::router(keywarden, &config);
        let settings = server::ServeSettings::from_config(&config);
        let serving = tokio::spawn(async move {
            let _ = server::serve(listener, router, settings).await;
        });
        (base, store, vec![revalidation, deliveries, serving])
    }

    /// Stops the server and starts it again on the same database and exchanges, its
    /// environment changed by `overrides` (a `None` removes a variable).
    pub async fn restart_with(&mut self, overrides: &[(&'static str, Option<String>)]) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        self.store.close().await;
        for (name, value) in overrides {
            match value {
                Some(value) => self.env.insert(name, value.clone()),
                None => self.env.remove(name),
            };
        }
        let (base, store, tasks) = Self::launch(&self.env, &self.clock).await;
        (self.base, self.store, self.tasks) = (base, store, tasks);
    }

    /// The service as another instance on the same database would build it (no HTTP).
    pub async fn another_service(&self) -> app::service::Keywarden {
        let config = Config::from_lookup(|name| self.env.get(name).cloned()).expect("valid config");
        server::build_keywarden_with_clock(&config, self.clock.clone())
            .await
            .expect("service builds")
    }

    /// Starts a second server on the same database and exchanges (several instances behind a
    /// load balancer); returns its base URL. It stops with this one.
    pub async fn start_another_instance(&mut self) -> String {
        let (base, _, tasks) = Self::launch(&self.env, &self.clock).await;
        self.tasks.extend(tasks);
        base
    }

    /// The `keywarden` binary with `args`, in the server's environment changed by `overrides`
    /// (a `None` removes a variable).
    pub fn command(
        &self,
        args: &[&str],
        overrides: &[(&'static str, Option<&str>)],
    ) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_keywarden"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env);
        for (name, value) in overrides {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command
    }

    /// A new Fernet key made primary by a `keywarden rotate-keys` that succeeded; answers the key
    /// (for the restart that retires the old one) and what the command printed.
    pub fn rotate_to_a_new_key(&self) -> (String, String) {
        let new_key = app::vault::Vault::generate_key();
        secret(&new_key);
        let ring = format!("{new_key},{}", self.fernet_key);
        let output = self.rotate_keys_under(&ring);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{stdout}");
        (new_key, stdout)
    }

    /// `keywarden rotate-keys` under the keyring `ring` (the new key first), to its end.
    pub fn rotate_keys_under(&self, ring: &str) -> std::process::Output {
        self.command(
            &["rotate-keys"],
            &[("FERNET_KEY", None), ("FERNET_KEYS", Some(ring))],
        )
        .output()
        .expect("keywarden runs")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request, with a JSON body and bearer token if given; returns status and JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        json_answer(request).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// `POST /api/v1/auth/register` with a JSON body; returns status and JSON.
    pub async fn register(&self, email: &str, password: &str) -> (StatusCode, Value) {
        let credentials = json!({ "email": email, "password": password });
        self.call(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(credentials),
        )
        .await
    }

    /// `POST /api/v1/auth/login` with a JSON body (an API client's sign-in); returns status and
    /// JSON.
    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        let credentials = json!({ "email": email, "password": password });
        let answer = self
            .call(Method::POST, "/api/v1/auth/login", None, Some(credentials))
            .await;
        refresh_token_is_secret(answer)
    }

    /// `POST /api/v1/auth/refresh`: trades a refresh token for new tokens.
    pub async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        let body = json!({ "refresh_token": refresh_token });
        let answer = self
            .call(Method::POST, "/api/v1/auth/refresh", None, Some(body))
            .await;
        refresh_token_is_secret(answer)
    }

    /// Signs an existing user in once more (a new session); returns its access token.
    pub async fn user_session(&self, email: &str) -> String {
        self.user_session_with(email, PASSWORD).await
    }

    /// `user_session` with another password.
    pub async fn user_session_with(&self, email: &str, password: &str) -> String {
        let (status, body) = self.login(email, password).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Deactivates the account as the operator does, with `keywarden deactivate-user`.
    pub fn deactivate_user(&self, email: &str) {
        let output = self
            .command(&["deactivate-user", "--email", email], &[])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains(&format!("deactivated {email}")), "{stdout}");
    }

    /// Registers `email` with a fixed password and returns an access token.
    pub async fn user(&self, email: &str) -> String {
        let (status, body) = self.register(email, PASSWORD).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        self.user_session(email).await
    }

    /// Signs an existing user in as the browser does; returns the session's `Cookie` header.
    pub async fn browser_session(&self, email: &str) -> String {
        let response = self
            .http
            .post(self.url("/api/v1/ui/auth/login"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .expect("server answers");
        assert_eq!(response.status(), StatusCode::OK);
        let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        secret(cookie.split_once('=').unwrap().1);
        cookie
    }

    /// GET `path` riding on a browser session's cookie; returns status and JSON.
    pub async fn get_with_cookie(&self, path: &str, cookie: &str) -> (StatusCode, Value) {
        json_answer(self.http.get(self.url(path)).header("cookie", cookie)).await
    }

    /// Asks the server to store a key pair (no label) for the token's user.
    pub async fn create_key(
        &self,
        token: &str,
        api_key: &str,
        secret_key: &str,
    ) -> (StatusCode, Value) {
        let body = json!({"api_key": api_key, "secret_key": secret_key});
        self.post("/api/v1/api-keys/", token, body).await
    }

    /// Stores the demo key (Binance's official example pair) for the token's user.
    pub async fn add_demo_key(&self, token: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/api-keys/",
                token,
                json!({
                    "api_key": fake_exchange::DEMO_API_KEY,
                    "secret_key": fake_exchange::DEMO_SECRET_KEY,
                    "label": "main",
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Runs a statement straight on the database (what an attacker or an operator with database
    /// access could do); returns the rows it touched.
    pub async fn execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match self.store.pool() {
            Pool::Sqlite(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|d| d.rows_affected()),
            Pool::Postgres(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|d| d.rows_affected()),
        }
    }

    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match self.store.pool() {
            Pool::Sqlite(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap(),
            Pool::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap(),
        }
    }

    /// Every byte the database holds for Keywarden's tables, as text.
    pub async fn raw_database_text(&self) -> String {
        match (&self.database, self.store.pool()) {
            (Database::Sqlite { path, .. }, _) => {
                let mut bytes = std::fs::read(path).unwrap();
                let wal = path.with_extension("db-wal");
                bytes.extend(std::fs::read(wal).unwrap_or_default());
                String::from_utf8_lossy(&bytes).into_owned()
            }
            (Database::Postgres { .. }, Pool::Postgres(pool)) => {
                let rows: Vec<String> = sqlx::query_scalar(
                    "SELECT row_to_json(t)::text FROM (SELECT * FROM api_keys) t \
                     UNION ALL SELECT row_to_json(t)::text FROM (SELECT * FROM users) t \
                     UNION ALL SELECT row_to_json(t)::text FROM (SELECT * FROM bot_configs) t",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                rows.join("\n")
            }
            _ => unreachable!("store and database agree"),
        }
    }

    /// The stored ciphertexts of the only api_keys row.
    pub async fn stored_ciphertexts(&self) -> (String, String) {
        let sql = "SELECT encrypted_api_key, encrypted_secret_key FROM api_keys";
        match self.store.pool() {
            Pool::Sqlite(pool) => sqlx::query_as(sql).fetch_one(pool).await.unwrap(),
            Pool::Postgres(pool) => sqlx::query_as(sql).fetch_one(pool).await.unwrap(),
        }
    }

    pub async fn finish(self) {
        for task in &self.tasks {
            task.abort();
        }
        assert_no_secret_in_logs();
        self.store.close().await;
        if let Database::Postgres { admin_url, name } = &self.database {
            let admin = sqlx::PgPool::connect(admin_url).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
        }
    }
}

/// Sends the request; returns status and JSON (`Null` for an empty body).
async fn json_answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("server answers");
    let status = response.status();
    let text = response.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, json)
}

/// A refresh token the server hands out is one more secret the logs must not hold.
fn refresh_token_is_secret(answer: (StatusCode, Value)) -> (StatusCode, Value) {
    if let Some(refresh_token) = answer.1["refresh_token"].as_str() {
        secret(refresh_token);
    }
    answer
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 6];
    getrandom::getrandom(&mut bytes).unwrap();
    hex_lower(&bytes)
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
