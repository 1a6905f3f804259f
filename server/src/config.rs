//! The one typed configuration, read once from the environment at start. Each variable is
//! declared in `settings`.

pub mod settings;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use app::email_sender::EmailSettingsError;
use app::network::IpNetwork;
use app::webhook_sender::PrivateAddresses;
use base64::Engine;

use settings::Setting;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone)]
pub struct Config {
    pub environment: Environment,
    pub addr: SocketAddr,
    /// Where `/metrics` is served instead of `addr`.
    pub metrics_addr: Option<SocketAddr>,
    pub public_url: String,
    pub database_url: String,
    pub data_dir: PathBuf,
    /// The Fernet keyring: the first key encrypts, every key decrypts.
    pub fernet_keys: Vec<String>,
    /// Refuse the seed's bare tokens and key pairs sealed before row versions.
    pub refuse_bare_tokens: bool,
    pub jwt_secret: String,
    pub token_ttl: Duration,
    pub binance_base_url: String,
    pub binance_testnet_base_url: String,
    /// Accept keys that can withdraw funds.
    pub allow_withdrawal_keys: bool,
    pub binance_timeout: Duration,
    pub binance_connect_timeout: Duration,
    pub binance_recv_window_ms: u64,
    /// Binance calls one account may cause a minute on this instance.
    pub binance_calls_per_minute: u32,
    /// Binance calls in flight at once.
    pub binance_concurrency: usize,
    /// How often each key is re-checked with Binance in the background.
    pub revalidate_every: Duration,
    /// Which special-purpose addresses webhooks may reach.
    pub webhook_private_addresses: PrivateAddresses,
    /// How long a failing webhook delivery is retried.
    pub webhook_retry_for: Duration,
    /// Where alerts are emailed from; `None`: no email. Holds a password: never printed.
    pub smtp: Option<SmtpSettings>,
    /// Where cargo-leptos put the compiled site (WASM, CSS, assets).
    pub site_root: String,
    /// A browser session ends after this long without a request.
    pub session_idle: Duration,
    /// Any session ends this long after sign-in.
    pub session_max_age: Duration,
    pub login_failures_per_account: u64,
    pub login_failures_per_ip: u64,
    pub login_window: Duration,
    pub registrations_per_ip: u64,
    pub register_window: Duration,
    /// How long a proven second-factor code allows the changes that need one.
    pub step_up_window: Duration,
    /// Every account must have a second factor.
    pub require_two_factor: bool,
    /// How many password hashes may run at once.
    pub password_hash_concurrency: u64,
    /// Proxies whose `X-Forwarded-For` names the client; empty: the socket's peer is.
    pub trusted_proxies: Vec<IpAddr>,
    /// Where Binance sees Keywarden's calls come from; empty: not said.
    pub egress_ips: Vec<IpAddr>,
    /// Origins allowed to call the API from scripts (CORS), bearer tokens only; empty: none.
    pub cors_origins: Vec<String>,
    pub database_max_connections: u32,
    pub database_acquire_timeout: Duration,
    /// Requests in flight beyond this are answered 503 at once.
    pub max_in_flight: usize,
    /// A request not answered within this gets 408.
    pub request_timeout: Duration,
    /// After SIGTERM, how long requests in flight may take to finish.
    pub shutdown_grace: Duration,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body.
    pub body_timeout: Duration,
    /// Requests in flight for one client address beyond this are answered 429 at once.
    pub max_in_flight_per_address: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("environment", &self.environment)
            .field("addr", &self.addr)
            .field("database_url", &redact_url_password(&self.database_url))
            .field("fernet_keys", &"[redacted]")
            .field("jwt_secret", &"[redacted]")
            .field("binance_base_url", &self.binance_base_url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}={value:?} is not valid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error(
        "KEYWARDEN_ENV=production needs {0} (each can also be read from a file named by \
         <NAME>_FILE; FERNET_KEY is accepted for FERNET_KEYS); `keywarden gen-key` prints a \
         Fernet key"
    )]
    MissingInProduction(String),
    #[error(
        "KEYWARDEN_ADDR={0} is reachable from other machines and FERNET_KEYS or JWT_SECRET is \
         not set: set KEYWARDEN_ENV=production with both secrets, or KEYWARDEN_ENV=development to \
         generate development secrets anyway"
    )]
    SecretsWouldBeGenerated(SocketAddr),
    #[error("{name}={value:?} is not https://: production sends credentials only over TLS")]
    NotHttpsInProduction { name: &'static str, value: String },
    #[error("FERNET_KEYS: {0}; `keywarden gen-key` prints a valid key")]
    Keyring(String),
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Secrets generated into the data directory for development when none are configured.
const FERNET_KEY_FILE: &str = "fernet.key";
const JWT_SECRET_FILE: &str = "jwt.secret";

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(env_var)
    }

    /// Reads every setting through `var`, so tests can supply their own environment.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use settings::*;
        let environment = match KEYWARDEN_ENV.value(&var).as_str() {
            "development" => Environment::Development,
            "production" => Environment::Production,
            other => {
                return Err(ConfigError::Invalid {
                    name: KEYWARDEN_ENV.name,
                    value: other.into(),
                    reason: "expected development or production",
                });
            }
        };
        let addr_text = KEYWARDEN_ADDR.value(&var);
        let addr: SocketAddr = addr_text.parse().map_err(|_| ConfigError::Invalid {
            name: KEYWARDEN_ADDR.name,
            value: addr_text.clone(),
            reason: "expected host:port, e.g. 127.0.0.1:3000",
        })?;
        let metrics_addr = match var(KEYWARDEN_METRICS_ADDR.name) {
            None => None,
            Some(text) => Some(
                text.parse::<SocketAddr>()
                    .map_err(|_| ConfigError::Invalid {
                        name: KEYWARDEN_METRICS_ADDR.name,
                        value: text.clone(),
                        reason: "expected host:port, e.g. 127.0.0.1:9100",
                    })?,
            ),
        };
        let data_dir = PathBuf::from(KEYWARDEN_DATA_DIR.value(&var));
        let database_url = var(DATABASE_URL.name)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("keywarden.db").display()));
        let Some(backend) = backend(&database_url) else {
            return Err(ConfigError::Invalid {
                name: DATABASE_URL.name,
                value: redact_url_password(&database_url),
                reason: "expected sqlite:<path> or postgres://...",
            });
        };
        let fernet_keys = match (secret(&var, &FERNET_KEYS)?, secret(&var, &FERNET_KEY)?) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    name: FERNET_KEYS.name,
                    value: "[redacted]".into(),
                    reason: "set FERNET_KEYS or the older FERNET_KEY, not both",
                });
            }
            (keys, key) => keys.or(key),
        };
        let jwt_secret = secret(&var, &JWT_SECRET)?;
        // Secrets generated on disk are for a developer's own machine, not a server others reach.
        let environment_chosen = var(KEYWARDEN_ENV.name).is_some();
        if !environment_chosen
            && !addr.ip().is_loopback()
            && (fernet_keys.is_none() || jwt_secret.is_none())
        {
            return Err(ConfigError::SecretsWouldBeGenerated(addr));
        }
        if environment == Environment::Production {
            let missing: Vec<&str> = [(&FERNET_KEYS, &fernet_keys), (&JWT_SECRET, &jwt_secret)]
                .into_iter()
                .filter(|(_, value)| value.is_none())
                .map(|(setting, _)| setting.name)
                .collect();
            if !missing.is_empty() {
                return Err(ConfigError::MissingInProduction(missing.join(" and ")));
            }
        }
        let fernet_keys = match fernet_keys {
            Some(keys) => keys,
            None => dev_secret(
                &data_dir,
                &FERNET_KEYS,
                FERNET_KEY_FILE,
                app::vault::Vault::generate_key,
            )?,
        };
        let fernet_keys: Vec<String> = fernet_keys
            .split(',')
            .map(|key| key.trim().to_owned())
            .filter(|key| !key.is_empty())
            .collect();
        if let Err(err) = app::vault::Vault::new(fernet_keys.iter().map(String::as_str)) {
            return Err(ConfigError::Keyring(err.to_string()));
        }
        let jwt_secret = match jwt_secret {
            Some(secret) => secret,
            None => dev_secret(&data_dir, &JWT_SECRET, JWT_SECRET_FILE, random_jwt_secret)?,
        };
        if jwt_secret.len() < 32 {
            return Err(ConfigError::Invalid {
                name: JWT_SECRET.name,
                value: "[redacted]".into(),
                reason: "must be at least 32 characters",
            });
        }
        let public_url = var(KEYWARDEN_PUBLIC_URL.name).unwrap_or_else(|| format!("http://{addr}"));
        let binance_base_url = BINANCE_BASE_URL
            .value(&var)
            .trim_end_matches('/')
            .to_owned();
        let binance_testnet_base_url = BINANCE_TESTNET_BASE_URL
            .value(&var)
            .trim_end_matches('/')
            .to_owned();
        if environment == Environment::Production {
            for (setting, url) in [
                (&KEYWARDEN_PUBLIC_URL, &public_url),
                (&BINANCE_BASE_URL, &binance_base_url),
                (&BINANCE_TESTNET_BASE_URL, &binance_testnet_base_url),
            ] {
                if !url.starts_with("https://") {
                    return Err(ConfigError::NotHttpsInProduction {
                        name: setting.name,
                        value: url.clone(),
                    });
                }
            }
        }
        Ok(Config {
            environment,
            addr,
            metrics_addr,
            public_url,
            database_url,
            data_dir,
            fernet_keys,
            refuse_bare_tokens: flag(&var, &KEYWARDEN_REFUSE_BARE_TOKENS)?,
            jwt_secret,
            token_ttl: Duration::from_secs(60 * number(&var, &JWT_EXPIRES_MINUTES)?),
            binance_base_url,
            binance_testnet_base_url,
            allow_withdrawal_keys: flag(&var, &KEYWARDEN_ALLOW_WITHDRAWAL_KEYS)?,
            binance_timeout: Duration::from_millis(number(&var, &BINANCE_TIMEOUT_MS)?),
            binance_connect_timeout: Duration::from_millis(number(
                &var,
                &BINANCE_CONNECT_TIMEOUT_MS,
            )?),
            binance_recv_window_ms: number(&var, &BINANCE_RECV_WINDOW_MS)?,
            binance_calls_per_minute: u32::try_from(number(
                &var,
                &KEYWARDEN_BINANCE_CALLS_PER_MINUTE,
            )?)
            .unwrap_or(u32::MAX),
            binance_concurrency: usize::try_from(number(&var, &KEYWARDEN_BINANCE_CONCURRENCY)?)
                .unwrap_or(usize::MAX)
                .max(1),
            revalidate_every: duration(&var, &KEYWARDEN_REVALIDATE_EVERY)?,
            webhook_private_addresses: private_addresses(&var)?,
            webhook_retry_for: duration(&var, &KEYWARDEN_WEBHOOK_RETRY_FOR)?,
            smtp: smtp(&var)?,
            site_root: LEPTOS_SITE_ROOT.value(&var),
            session_idle: duration(&var, &KEYWARDEN_SESSION_IDLE)?,
            session_max_age: duration(&var, &KEYWARDEN_SESSION_MAX_AGE)?,
            login_failures_per_account: number(&var, &KEYWARDEN_LOGIN_FAILURES_PER_ACCOUNT)?,
            login_failures_per_ip: number(&var, &KEYWARDEN_LOGIN_FAILURES_PER_IP)?,
            login_window: duration(&var, &KEYWARDEN_LOGIN_WINDOW)?,
            registrations_per_ip: number(&var, &KEYWARDEN_REGISTRATIONS_PER_IP)?,
            register_window: duration(&var, &KEYWARDEN_REGISTER_WINDOW)?,
            step_up_window: duration(&var, &KEYWARDEN_STEP_UP_WINDOW)?,
            require_two_factor: flag(&var, &KEYWARDEN_REQUIRE_2FA)?,
            password_hash_concurrency: number_or(
                &var,
                &KEYWARDEN_PASSWORD_HASH_CONCURRENCY,
                default_hash_concurrency(),
            )?,
            trusted_proxies: addresses(&var, &KEYWARDEN_TRUSTED_PROXIES)?,
            egress_ips: addresses(&var, &KEYWARDEN_EGRESS_IPS)?,
            database_max_connections: u32::try_from(number_or(
                &var,
                &DATABASE_MAX_CONNECTIONS,
                default_pool_size(backend),
            )?)
            .unwrap_or(u32::MAX),
            database_acquire_timeout: duration(&var, &DATABASE_ACQUIRE_TIMEOUT)?,
            max_in_flight: usize::try_from(number(&var, &KEYWARDEN_MAX_IN_FLIGHT)?)
                .unwrap_or(usize::MAX),
            request_timeout: duration(&var, &KEYWARDEN_REQUEST_TIMEOUT)?,
            shutdown_grace: duration(&var, &KEYWARDEN_SHUTDOWN_GRACE)?,
            header_timeout: duration(&var, &KEYWARDEN_HEADER_TIMEOUT)?,
            body_timeout: duration(&var, &KEYWARDEN_BODY_TIMEOUT)?,
            max_in_flight_per_address: usize::try_from(number(
                &var,
                &KEYWARDEN_MAX_IN_FLIGHT_PER_ADDRESS,
            )?)
            .unwrap_or(usize::MAX),
            cors_origins: list(&var, &KEYWARDEN_CORS_ORIGINS)
                .into_iter()
                .map(|origin| {
                    let trimmed = origin.trim_end_matches('/').to_owned();
                    if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
                        Ok(trimmed)
                    } else {
                        Err(ConfigError::Invalid {
                            name: KEYWARDEN_CORS_ORIGINS.name,
                            value: origin,
                            reason: "expected comma-separated origins such as https://bots.example.com",
                        })
                    }
                })
                .collect::<Result<_, _>>()?,
        })
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// How `from_env` reads a variable: an empty one counts as unset.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The setting's variable, or the contents of the file its `<NAME>_FILE` variable names.
fn secret(
    var: &impl Fn(&str) -> Option<String>,
    setting: &Setting,
) -> Result<Option<String>, ConfigError> {
    if let Some(value) = var(setting.name) {
        return Ok(Some(value.trim().to_owned()));
    }
    let Some(path) = var(&format!("{}_FILE", setting.name)) else {
        return Ok(None);
    };
    std::fs::read_to_string(&path)
        .map(|text| Some(text.trim().to_owned()))
        .map_err(|source| ConfigError::Io {
            path: path.into(),
            source,
        })
}

fn number(var: &impl Fn(&str) -> Option<String>, setting: &Setting) -> Result<u64, ConfigError> {
    positive_number(setting, setting.value(var))
}

/// For a number whose default is worked out at start, as `worked_out`.
fn number_or(
    var: &impl Fn(&str) -> Option<String>,
    setting: &Setting,
    worked_out: u64,
) -> Result<u64, ConfigError> {
    var(setting.name).map_or(Ok(worked_out), |text| positive_number(setting, text))
}

fn positive_number(setting: &Setting, text: String) -> Result<u64, ConfigError> {
    match text.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ConfigError::Invalid {
            name: setting.name,
            value: text,
            reason: "expected a positive whole number",
        }),
    }
}

/// `90s`, `30m`, `6h`, `400d` or plain seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    match number.parse::<u64>() {
        Ok(n) if n > 0 => n.checked_mul(seconds).map(Duration::from_secs),
        _ => None,
    }
}

fn duration(
    var: &impl Fn(&str) -> Option<String>,
    setting: &Setting,
) -> Result<Duration, ConfigError> {
    let text = setting.value(var);
    parse_duration(&text).ok_or(ConfigError::Invalid {
        name: setting.name,
        value: text,
        reason: "expected a duration such as 90s, 30m or 6h",
    })
}

/// Comma-separated values, blanks dropped; none when unset.
fn list(var: &impl Fn(&str) -> Option<String>, setting: &Setting) -> Vec<String> {
    var(setting.name)
        .unwrap_or_default()
        .split(',')
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

/// The SMTP server alerts are emailed through.
#[derive(Clone)]
pub struct SmtpSettings {
    pub url: String,
    pub from: String,
}

/// `KEYWARDEN_SMTP_URL` and `KEYWARDEN_SMTP_FROM`, checked as the sender will use them.
fn smtp(var: &impl Fn(&str) -> Option<String>) -> Result<Option<SmtpSettings>, ConfigError> {
    use settings::{KEYWARDEN_SMTP_FROM, KEYWARDEN_SMTP_URL};
    let from = var(KEYWARDEN_SMTP_FROM.name).unwrap_or_default();
    let Some(url) = secret(var, &KEYWARDEN_SMTP_URL)? else {
        return Ok(None);
    };
    match app::email_sender::EmailSender::new(&url, &from) {
        Ok(_) => Ok(Some(SmtpSettings { url, from })),
        Err(EmailSettingsError::Url) => Err(ConfigError::Invalid {
            name: KEYWARDEN_SMTP_URL.name,
            value: "[redacted]".into(),
            reason: "expected smtps://host[:port], or smtp://host[:port] with ?tls=required",
        }),
        Err(EmailSettingsError::From) => Err(ConfigError::Invalid {
            name: KEYWARDEN_SMTP_FROM.name,
            value: from,
            reason: "expected an address such as Keywarden <alerts@example.com>",
        }),
    }
}

/// `KEYWARDEN_WEBHOOK_ALLOW_PRIVATE`: `false`, `true`, or networks.
fn private_addresses(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<PrivateAddresses, ConfigError> {
    let setting = &settings::KEYWARDEN_WEBHOOK_ALLOW_PRIVATE;
    let text = setting.value(var);
    match text.trim() {
        "false" | "0" | "" => return Ok(PrivateAddresses::Refused),
        "true" | "1" => return Ok(PrivateAddresses::Allowed),
        _ => {}
    }
    let networks: Result<Vec<IpNetwork>, ()> = list(var, setting)
        .iter()
        .map(|item| item.parse::<IpNetwork>())
        .collect();
    networks
        .map(PrivateAddresses::AllowedIn)
        .map_err(|()| ConfigError::Invalid {
            name: setting.name,
            value: text,
            reason: "expected true, false, or comma-separated networks such as 10.0.0.0/8",
        })
}

/// Comma-separated IP addresses; none when unset.
fn addresses(
    var: &impl Fn(&str) -> Option<String>,
    setting: &Setting,
) -> Result<Vec<IpAddr>, ConfigError> {
    list(var, setting)
        .into_iter()
        .map(|text| {
            text.parse().map_err(|_| ConfigError::Invalid {
                name: setting.name,
                value: text,
                reason: "expected comma-separated IP addresses",
            })
        })
        .collect()
}

/// The database a URL names, told apart by its scheme (as `Store::connect` does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

fn backend(database_url: &str) -> Option<Backend> {
    if database_url.starts_with("sqlite:") {
        Some(Backend::Sqlite)
    } else if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Some(Backend::Postgres)
    } else {
        None
    }
}

/// SQLite writes one transaction at a time (this process's writers take turns) and the reads
/// every request makes bypass the pool, so more than a few connections only hold page caches:
/// ten of them kept a sign-in flood beside a read load about 1 MB higher than four.
fn default_pool_size(backend: Backend) -> u64 {
    match backend {
        Backend::Sqlite => 4,
        Backend::Postgres => 10,
    }
}

/// One core kept free for everything else, on a machine with more than one.
fn default_hash_concurrency() -> u64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    cores.saturating_sub(1).max(1)
}

fn flag(var: &impl Fn(&str) -> Option<String>, setting: &Setting) -> Result<bool, ConfigError> {
    match setting.value(var).as_str() {
        "false" | "0" => Ok(false),
        "true" | "1" => Ok(true),
        other => Err(ConfigError::Invalid {
            name: setting.name,
            value: other.into(),
            reason: "expected true or false",
        }),
    }
}

/// Reads a development secret from the data directory, creating it (mode 0600) if absent.
fn dev_secret(
    data_dir: &Path,
    setting: &Setting,
    file: &str,
    generate: impl FnOnce() -> String,
) -> Result<String, ConfigError> {
    let path = data_dir.join(file);
    let io = |source| ConfigError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => return Ok(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(io)?;
    }
    let value = generate();
    write_private(&path, &value).map_err(io)?;
    tracing::warn!(
        "no {name} configured: generated one into {} (mode 0600) for development; \
         set {name} explicitly in production",
        path.display(),
        name = setting.name,
    );
    Ok(value)
}

#[cfg(unix)]
fn write_private(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(value.as_bytes())?;
    file.write_all(b"\n")
}

fn random_jwt_secret() -> String {
    let mut bytes = [0u8; 48];
    getrandom::getrandom(&mut bytes).expect("the OS random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `postgres://user:pass@host/db` without its password, for messages.
fn redact_url_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:[redacted]{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn production_names_every_missing_secret() {
        let err = config(&[("KEYWARDEN_ENV", "production")]).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("FERNET_KEYS and JWT_SECRET"), "{message}");
    }

    #[test]
    fn secrets_are_generated_only_where_no_other_machine_reaches() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        let open = [
            ("KEYWARDEN_DATA_DIR", data),
            ("KEYWARDEN_ADDR", "0.0.0.0:3000"),
        ];
        let refused = config(&open).unwrap_err().to_string();
        assert!(refused.contains("KEYWARDEN_ADDR=0.0.0.0:3000"), "{refused}");
        assert!(refused.contains("KEYWARDEN_ENV"), "{refused}");
        let chosen = [open[0], open[1], ("KEYWARDEN_ENV", "development")];
        assert!(config(&chosen).is_ok());
        let loopback = [
            ("KEYWARDEN_DATA_DIR", data),
            ("KEYWARDEN_ADDR", "[::1]:3000"),
        ];
        assert!(config(&loopback).is_ok());
    }

    #[test]
    fn production_sends_credentials_only_over_tls() {
        let key = app::vault::Vault::generate_key();
        let secret = "x".repeat(40);
        let production = |urls: &[(&'static str, &'static str)]| {
            let mut vars = vec![
                ("KEYWARDEN_ENV", "production"),
                ("FERNET_KEYS", key.as_str()),
                ("JWT_SECRET", secret.as_str()),
            ];
            vars.extend_from_slice(urls);
            config(&vars).err().map(|e| e.to_string())
        };
        let public = ("KEYWARDEN_PUBLIC_URL", "https://keys.example.com");
        let unset = production(&[]).unwrap();
        assert!(unset.contains("KEYWARDEN_PUBLIC_URL"), "{unset}");
        let plain = production(&[public, ("BINANCE_BASE_URL", "http://api.binance.com")]).unwrap();
        assert!(plain.contains("BINANCE_BASE_URL"), "{plain}");
        let testnet = production(&[public, ("BINANCE_TESTNET_BASE_URL", "http://t.example")]);
        assert!(testnet.unwrap().contains("BINANCE_TESTNET_BASE_URL"));
        assert_eq!(production(&[public]), None);
    }

    #[test]
    fn development_generates_private_secrets_once() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let vars = [("KEYWARDEN_DATA_DIR", data.to_str().unwrap())];
        let first = config(&vars).unwrap();
        let second = config(&vars).unwrap();
        assert_eq!(first.fernet_keys, second.fernet_keys);
        assert_eq!(first.fernet_keys.len(), 1);
        assert_eq!(first.jwt_secret, second.jwt_secret);
        assert!(first.database_url.ends_with("data/keywarden.db"));
        use std::os::unix::fs::PermissionsExt;
        for file in [FERNET_KEY_FILE, JWT_SECRET_FILE] {
            let mode = std::fs::metadata(data.join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }

    #[test]
    fn pool_size_defaults_to_the_backend_and_can_be_set() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        let sqlite = config(&[("KEYWARDEN_DATA_DIR", data)]).unwrap();
        assert_eq!(sqlite.database_max_connections, 4);
        let postgres = [
            ("KEYWARDEN_DATA_DIR", data),
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
        ];
        assert_eq!(config(&postgres).unwrap().database_max_connections, 10);
        let set = [
            ("KEYWARDEN_DATA_DIR", data),
            ("DATABASE_MAX_CONNECTIONS", "7"),
        ];
        assert_eq!(config(&set).unwrap().database_max_connections, 7);
    }

    #[test]
    fn bad_values_are_named() {
        let key = app::vault::Vault::generate_key();
        let secret = "x".repeat(40);
        let base = [
            ("FERNET_KEY", key.as_str()),
            ("JWT_SECRET", secret.as_str()),
        ];
        let with = |extra: (&'static str, &'static str)| {
            let mut vars = base.to_vec();
            vars.push(extra);
            config(&vars)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(with(("KEYWARDEN_ADDR", "nope")).contains("KEYWARDEN_ADDR"));
        assert!(with(("BINANCE_TIMEOUT_MS", "-1")).contains("BINANCE_TIMEOUT_MS"));
        assert!(with(("DATABASE_URL", "mysql://x")).contains("DATABASE_URL"));
        assert!(with(("KEYWARDEN_REVALIDATE_EVERY", "soon")).contains("REVALIDATE"));
        assert!(with(("KEYWARDEN_ALLOW_WITHDRAWAL_KEYS", "yes")).contains("WITHDRAWAL"));
        let egress = with(("KEYWARDEN_EGRESS_IPS", "203.0.113.7, nat-gateway"));
        assert!(egress.contains("KEYWARDEN_EGRESS_IPS") && egress.contains("nat-gateway"));
        let every = |text: &'static str| {
            let mut vars = base.to_vec();
            vars.push(("KEYWARDEN_REVALIDATE_EVERY", text));
            config(&vars).unwrap().revalidate_every.as_secs()
        };
        assert_eq!(
            (every("90s"), every("30m"), every("6h"), every("45")),
            (90, 1800, 21600, 45)
        );
        let short_jwt = config(&[("FERNET_KEY", key.as_str()), ("JWT_SECRET", "short")]);
        assert!(short_jwt.unwrap_err().to_string().contains("JWT_SECRET"));
        let bad_key = config(&[("FERNET_KEY", "short"), ("JWT_SECRET", secret.as_str())]);
        assert!(bad_key.unwrap_err().to_string().contains("FERNET_KEYS"));
    }

    #[test]
    fn a_keyring_comes_from_fernet_keys_or_the_single_fernet_key() {
        let (a, b) = (
            app::vault::Vault::generate_key(),
            app::vault::Vault::generate_key(),
        );
        let secret = "x".repeat(40);
        let ring = format!("{b}, {a}");
        let keys = |vars: &[(&str, &str)]| {
            let mut vars = vars.to_vec();
            vars.push(("JWT_SECRET", secret.as_str()));
            config(&vars).map(|c| c.fernet_keys)
        };
        assert_eq!(
            keys(&[("FERNET_KEYS", &ring)]).unwrap(),
            [b.clone(), a.clone()]
        );
        assert_eq!(keys(&[("FERNET_KEY", &a)]).unwrap(), vec![a.clone()]);
        let both = keys(&[("FERNET_KEYS", &ring), ("FERNET_KEY", &a)]).unwrap_err();
        assert!(both.to_string().contains("not both"), "{both}");
        let bad = keys(&[("FERNET_KEYS", &format!("{a},nope"))]).unwrap_err();
        assert!(bad.to_string().contains("key number 2"), "{bad}");
        let repeated = keys(&[("FERNET_KEYS", &format!("{a},{a}"))]).unwrap_err();
        assert!(repeated.to_string().contains("repeats"), "{repeated}");
    }

    #[test]
    fn the_reader_reads_exactly_the_settings_declared_as_read_by_it() {
        use settings::{FERNET_KEY, FERNET_KEYS, JWT_SECRET, KEYWARDEN_DATA_DIR, ReadBy, SETTINGS};
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap().to_owned();
        let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
        Config::from_lookup(|name| {
            asked.borrow_mut().insert(name.to_owned());
            (name == KEYWARDEN_DATA_DIR.name).then(|| data.clone())
        })
        .unwrap();
        let mut declared: std::collections::BTreeSet<String> = SETTINGS
            .iter()
            .filter(|setting| setting.read_by == ReadBy::Config)
            .map(|setting| setting.name.to_owned())
            .collect();
        for secret in [
            FERNET_KEYS,
            FERNET_KEY,
            JWT_SECRET,
            settings::KEYWARDEN_SMTP_URL,
        ] {
            declared.insert(format!("{}_FILE", secret.name));
        }
        assert_eq!(asked.into_inner(), declared);
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url_password("postgres://kw:hunter2@db/kw"),
            "postgres://kw:[redacted]@db/kw"
        );
    }
}
