//! Every environment variable Keywarden reads, declared once: its name, its default, what it
//! means and who reads it. README.md's "Settings" table is this list, row for row (a test
//! checks), and `Config::from_lookup` reads each setting through its constant here.

/// One environment variable.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    pub name: &'static str,
    pub default: SettingDefault,
    /// The README's "meaning" column: the constant's doc lines joined, so spacing is not
    /// significant.
    pub meaning: &'static str,
    pub read_by: ReadBy,
}

/// What applies when a setting's variable is unset (or empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingDefault {
    /// Read exactly as if the variable held this text; the README shows it in backticks.
    Value(&'static str),
    /// Worked out at start, or no value at all; the README shows this text as it is.
    Described(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadBy {
    /// `Config::from_lookup`, into the one typed `Config`.
    Config,
    /// main.rs, setting up logging before the configuration is read.
    Logging,
    /// The integration tests' harness, never the server.
    Tests,
}

impl Setting {
    /// The variable's value, else the declared default value (see `default_value`).
    pub fn value(&self, var: &impl Fn(&str) -> Option<String>) -> String {
        var(self.name).unwrap_or_else(|| self.default_value().to_owned())
    }

    /// Panics for a default described in words: its reader works the value out instead.
    pub fn default_value(&self) -> &'static str {
        match self.default {
            SettingDefault::Value(text) => text,
            SettingDefault::Described(_) => {
                panic!(
                    "{} has no default value to read: its reader works one out",
                    self.name
                )
            }
        }
    }
}

/// Declares each setting as a constant named after its variable, documented with its meaning,
/// and `SETTINGS`, all of them in the README's order.
macro_rules! settings {
    ($(
        $(#[doc = $meaning:literal])+
        $name:ident { default: $default:expr, read_by: $read_by:ident $(,)? }
    )*) => {
        $(
            $(#[doc = $meaning])+
            pub const $name: Setting = Setting {
                name: stringify!($name),
                default: $default,
                meaning: concat!($($meaning),+),
                read_by: ReadBy::$read_by,
            };
        )*

        pub const SETTINGS: &[Setting] = &[$($name),*];
    };
}

use SettingDefault::{Described, Value};

settings! {
    /// `production` refuses to start unless `FERNET_KEYS` (or `FERNET_KEY`) and `JWT_SECRET` are
    /// set (and names what is missing) and `KEYWARDEN_PUBLIC_URL`, `BINANCE_BASE_URL` and
    /// `BINANCE_TESTNET_BASE_URL` are `https://`. `development` generates missing secrets into the
    /// data directory; left unset, it does so only when `KEYWARDEN_ADDR` is a loopback address
    KEYWARDEN_ENV {
        default: Value("development"),
        read_by: Config,
    }
    /// listen address
    KEYWARDEN_ADDR {
        default: Value("127.0.0.1:3000"),
        read_by: Config,
    }
    /// an address of its own for `/metrics` (such as `127.0.0.1:9100`, reached only from inside);
    /// when set, `KEYWARDEN_ADDR` no longer answers `/metrics`
    KEYWARDEN_METRICS_ADDR {
        default: Described("none (`/metrics` on `KEYWARDEN_ADDR`)"),
        read_by: Config,
    }
    /// the URL users reach. State-changing requests that carry the session cookie must come from
    /// this origin (`Origin`, else `Sec-Fetch-Site: same-origin`), or get 403 `cross_site_request`;
    /// `https://` also marks cookies `Secure` and sends HSTS. Open the app at exactly this URL
    /// (`127.0.0.1`, not `localhost`, by default)
    KEYWARDEN_PUBLIC_URL {
        default: Described("`http://` + `KEYWARDEN_ADDR`"),
        read_by: Config,
    }
    /// where the default SQLite database and generated development secrets live
    KEYWARDEN_DATA_DIR {
        default: Value("data"),
        read_by: Config,
    }
    /// `sqlite:<path>` (created with its migrations) or `postgres://user@host:port/db` for several
    /// instances
    DATABASE_URL {
        default: Described("`sqlite://data/keywarden.db`"),
        read_by: Config,
    }
    /// the Fernet keyring, comma-separated (each key 32 bytes, URL-safe base64; `keywarden gen-key`
    /// prints one): the first encrypts, every key decrypts. See "Rotating the Fernet key"
    FERNET_KEYS {
        default: Described("generated into `data/fernet.key` in development"),
        read_by: Config,
    }
    /// the seed's single key, still accepted as a one-key `FERNET_KEYS`; setting both is refused
    FERNET_KEY {
        default: Described("unset"),
        read_by: Config,
    }
    /// `true` refuses the seed's bare Fernet tokens and key pairs sealed before row versions
    /// (`keywarden:v1`) with 500 `stored_key_unreadable`: set it once `keywarden rotate-keys` has
    /// rewritten every key (it says `0 left`), so such a token can only have been written by
    /// someone else
    KEYWARDEN_REFUSE_BARE_TOKENS {
        default: Value("false"),
        read_by: Config,
    }
    /// HS256 secret for access tokens, at least 32 characters
    JWT_SECRET {
        default: Described("generated into `data/jwt.secret` in development"),
        read_by: Config,
    }
    /// lifetime of an access token (API clients renew it with their refresh token)
    JWT_EXPIRES_MINUTES {
        default: Value("15"),
        read_by: Config,
    }
    /// a browser session ends after this long without a request
    KEYWARDEN_SESSION_IDLE {
        default: Value("30m"),
        read_by: Config,
    }
    /// any session (browser, or an API client's refresh-token family) ends this long after sign-in
    KEYWARDEN_SESSION_MAX_AGE {
        default: Value("12h"),
        read_by: Config,
    }
    /// failed sign-ins for one account from one address within `KEYWARDEN_LOGIN_WINDOW` before that
    /// address's further attempts get 429 with `Retry-After`; the addresses the account never signed
    /// in from share ten times as many, so strangers cannot shut the owner out of an address the
    /// owner used before
    KEYWARDEN_LOGIN_FAILURES_PER_ACCOUNT {
        default: Value("5"),
        read_by: Config,
    }
    /// the same, per client address
    KEYWARDEN_LOGIN_FAILURES_PER_IP {
        default: Value("20"),
        read_by: Config,
    }
    /// the window both sign-in limits count in
    KEYWARDEN_LOGIN_WINDOW {
        default: Value("15m"),
        read_by: Config,
    }
    /// registrations per client address within `KEYWARDEN_REGISTER_WINDOW`
    KEYWARDEN_REGISTRATIONS_PER_IP {
        default: Value("10"),
        read_by: Config,
    }
    /// the window registrations count in
    KEYWARDEN_REGISTER_WINDOW {
        default: Value("1h"),
        read_by: Config,
    }
    /// how long a proven second-factor code (at sign-in, or `POST /api/v1/auth/step-up`) allows
    /// the changes that need one: deleting or replacing the key, issuing a bot token, changing
    /// webhooks or email alerts, turning the second factor off
    KEYWARDEN_STEP_UP_WINDOW {
        default: Value("5m"),
        read_by: Config,
    }
    /// `true` requires a second factor on every account: until one is set up, an account reaches
    /// only itself, its sessions and the second factor's own routes (403
    /// `two_factor_setup_required` elsewhere)
    KEYWARDEN_REQUIRE_2FA {
        default: Value("false"),
        read_by: Config,
    }
    /// argon2 hashes running at once; more sign-ins wait their turn, so a flood cannot take every
    /// core
    KEYWARDEN_PASSWORD_HASH_CONCURRENCY {
        default: Described("cores − 1 (at least 1)"),
        read_by: Config,
    }
    /// comma-separated proxy addresses whose `X-Forwarded-For` names the client; otherwise the
    /// client is the socket's peer and `X-Forwarded-For` is ignored
    KEYWARDEN_TRUSTED_PROXIES {
        default: Described("none"),
        read_by: Config,
    }
    /// comma-separated origins whose scripts may call the REST API with bearer tokens (never with
    /// the cookie)
    KEYWARDEN_CORS_ORIGINS {
        default: Described("none (CORS off)"),
        read_by: Config,
    }
    /// the Binance spot REST API (keys with `environment: "mainnet"`)
    BINANCE_BASE_URL {
        default: Value("https://api.binance.com"),
        read_by: Config,
    }
    /// Binance's spot testnet (keys with `environment: "testnet"`)
    BINANCE_TESTNET_BASE_URL {
        default: Value("https://testnet.binance.vision"),
        read_by: Config,
    }
    /// comma-separated public IP addresses Keywarden's calls reach Binance from: users are told
    /// to restrict their keys to exactly these (shown with the key and in `GET /api/v1/meta`)
    KEYWARDEN_EGRESS_IPS {
        default: Described("none (users are told to restrict the key, without the addresses)"),
        read_by: Config,
    }
    /// `true` accepts keys that can move funds; by default a key that can withdraw is refused
    /// with 400 `withdrawals_enabled`, and one that can make internal or universal transfers with
    /// 400 `transfers_enabled`
    KEYWARDEN_ALLOW_WITHDRAWAL_KEYS {
        default: Value("false"),
        read_by: Config,
    }
    /// how often each key is re-checked with Binance in the background (`90s`, `30m`, `6h`); keys
    /// about to lose trading are re-checked hourly in their last day
    KEYWARDEN_REVALIDATE_EVERY {
        default: Value("6h"),
        read_by: Config,
    }
    /// `true` lets webhooks reach private, loopback, link-local and other special-purpose
    /// addresses (never a cloud metadata address), or a comma-separated list of networks
    /// (`10.0.0.0/8,192.168.1.20`) opens only those; by default a webhook URL whose host resolves
    /// to such an address is refused with 422 `webhook_url_refused`, and a redirect to one is not
    /// followed
    KEYWARDEN_WEBHOOK_ALLOW_PRIVATE {
        default: Value("false"),
        read_by: Config,
    }
    /// how long a failing webhook delivery is retried before it is given up: the pauses start at
    /// 1/8640 of it (10 s for a day) and double up to 1/24 (an hour); the webhook's later alerts
    /// wait behind it, so a receiver sees them in order
    KEYWARDEN_WEBHOOK_RETRY_FOR {
        default: Value("24h"),
        read_by: Config,
    }
    /// where alerts are also sent by email: `smtps://user:password@host:465`, or
    /// `smtp://host:587?tls=required` for STARTTLS (`smtp://host:25` without TLS only inside a
    /// trusted network); also `KEYWARDEN_SMTP_URL_FILE`. Each user can turn email alerts off
    KEYWARDEN_SMTP_URL {
        default: Described("none (no email)"),
        read_by: Config,
    }
    /// the alerts' sender, such as `Keywarden <alerts@example.com>`; needed with
    /// `KEYWARDEN_SMTP_URL`
    KEYWARDEN_SMTP_FROM {
        default: Described("none"),
        read_by: Config,
    }
    /// Binance calls one account may cause a minute on this instance (adding, replacing and
    /// checking its key, balances, its bots' gateway requests; cancels are never held back):
    /// Binance's budget is per address and every account shares it. Beyond it, 429
    /// `binance_quota_exceeded` (at the gateway, -7021) with `Retry-After`
    KEYWARDEN_BINANCE_CALLS_PER_MINUTE {
        default: Value("300"),
        read_by: Config,
    }
    /// Binance calls in flight at once from this instance; more wait their turn (within
    /// `BINANCE_TIMEOUT_MS`)
    KEYWARDEN_BINANCE_CONCURRENCY {
        default: Value("32"),
        read_by: Config,
    }
    /// total time allowed for one Binance call; beyond it the request fails with 504
    BINANCE_TIMEOUT_MS {
        default: Value("10000"),
        read_by: Config,
    }
    /// time allowed to open a connection to Binance
    BINANCE_CONNECT_TIMEOUT_MS {
        default: Value("3000"),
        read_by: Config,
    }
    /// Binance's `recvWindow` on signed requests
    BINANCE_RECV_WINDOW_MS {
        default: Value("5000"),
        read_by: Config,
    }
    /// database pool size per instance (on SQLite, writes take turns and each request's own reads
    /// use connections of their own, so a few are enough; on PostgreSQL the order journal holds
    /// one connection more, its own, and up to half the pool is kept for the hot reads between
    /// them)
    DATABASE_MAX_CONNECTIONS {
        default: Described("`4` on SQLite, `10` on PostgreSQL"),
        read_by: Config,
    }
    /// how long a request waits for a pool connection before failing
    DATABASE_ACQUIRE_TIMEOUT {
        default: Value("5s"),
        read_by: Config,
    }
    /// requests answered at once; beyond it, 503 `overloaded` with `Retry-After: 1` at once rather
    /// than an endless queue
    KEYWARDEN_MAX_IN_FLIGHT {
        default: Value("512"),
        read_by: Config,
    }
    /// a request not answered (body included) within this gets 408 `request_timeout`
    KEYWARDEN_REQUEST_TIMEOUT {
        default: Value("60s"),
        read_by: Config,
    }
    /// how long a client may take to send a request's body once its headers arrived; beyond it, 408
    /// `body_timeout` (a client trickling its body holds a slot no longer)
    KEYWARDEN_BODY_TIMEOUT {
        default: Value("10s"),
        read_by: Config,
    }
    /// requests answered at once for one client address (an IPv6 client counted by its /64);
    /// beyond it, 429 `too_many_requests` with `Retry-After: 1`, so one client cannot take every
    /// slot of `KEYWARDEN_MAX_IN_FLIGHT`
    KEYWARDEN_MAX_IN_FLIGHT_PER_ADDRESS {
        default: Value("64"),
        read_by: Config,
    }
    /// how long a client may take to send a request's headers before its connection is closed (slow
    /// clients)
    KEYWARDEN_HEADER_TIMEOUT {
        default: Value("10s"),
        read_by: Config,
    }
    /// after SIGTERM or Ctrl-C: stop accepting, let requests in flight finish for at most this long
    KEYWARDEN_SHUTDOWN_GRACE {
        default: Value("10s"),
        read_by: Config,
    }
    /// `json` writes one JSON object per log line (with the request id of the request being
    /// answered); `text` is coloured on a terminal, plain in a file or a pipe
    KEYWARDEN_LOG_FORMAT {
        default: Value("text"),
        read_by: Logging,
    }
    /// the compiled site (WASM, CSS) that cargo-leptos produced
    LEPTOS_SITE_ROOT {
        default: Value("target/site"),
        read_by: Config,
    }
    /// log filter (the integration tests capture the server's logs at `trace` unless set)
    RUST_LOG {
        default: Value("info,sqlx=warn"),
        read_by: Logging,
    }
    /// tests only: the PostgreSQL server where each test creates its own database
    TEST_POSTGRES_URL {
        default: Value("postgres://postgres@127.0.0.1:5432/test"),
        read_by: Tests,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs of whitespace as one space, none at the ends.
    fn normalised(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The README's default cell for a declared default.
    fn default_cell(default: SettingDefault) -> String {
        match default {
            Value(text) => format!("`{text}`"),
            Described(text) => text.to_owned(),
        }
    }

    struct Row {
        name: String,
        default: String,
        meaning: String,
    }

    /// The rows of the table under README.md's "## Settings" heading.
    fn readme_settings() -> Vec<Row> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
        let readme = std::fs::read_to_string(path).expect("README.md is readable");
        let section = readme
            .split("\n## ")
            .find(|section| section.starts_with("Settings\n"))
            .expect("README.md has a \"## Settings\" section");
        section
            .lines()
            .filter(|line| line.starts_with('|'))
            .skip(2) // the header and the |---| line under it
            .map(|line| {
                let cells: Vec<&str> = line.trim().trim_matches('|').splitn(3, '|').collect();
                let [name, default, meaning] = cells[..] else {
                    panic!("a settings row without three cells: {line}");
                };
                Row {
                    name: name.trim().trim_matches('`').to_owned(),
                    default: normalised(default),
                    meaning: normalised(meaning),
                }
            })
            .collect()
    }

    #[test]
    fn the_readme_table_lists_exactly_the_declared_settings() {
        let documented = readme_settings();
        let documented_names: Vec<&str> = documented.iter().map(|row| row.name.as_str()).collect();
        let declared_names: Vec<&str> = SETTINGS.iter().map(|setting| setting.name).collect();
        let undocumented: Vec<&str> = declared_names
            .iter()
            .filter(|name| !documented_names.contains(name))
            .copied()
            .collect();
        let undeclared: Vec<&str> = documented_names
            .iter()
            .filter(|name| !declared_names.contains(name))
            .copied()
            .collect();
        assert!(
            undocumented.is_empty() && undeclared.is_empty(),
            "declared but missing from README.md's settings table: {undocumented:?}; \
             in the table but not declared in config/settings.rs: {undeclared:?}"
        );
        assert_eq!(
            documented_names, declared_names,
            "README.md's settings table is in another order than SETTINGS"
        );
        for (row, setting) in documented.iter().zip(SETTINGS) {
            assert_eq!(
                row.default,
                normalised(&default_cell(setting.default)),
                "{}: README.md's default differs from the declared one",
                setting.name
            );
            assert_eq!(
                row.meaning,
                normalised(setting.meaning),
                "{}: README.md's meaning differs from the declared one",
                setting.name
            );
        }
    }
}
