//! Key custody against the real server and the real `keywarden` binary: keyring rotation
//! (also interrupted), the seed's bare tokens and Python-made tokens, row binding, and the
//! audit trail.

mod harness;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use app::store::{Pool, Store, StoredCiphertexts};
use app::vault::{Field, Owner, Vault};
use fake_exchange::{
    Account, DEMO_API_KEY, DEMO_ED25519_API_KEY, DEMO_ED25519_PRIVATE_KEY, DEMO_RSA_API_KEY,
    DEMO_RSA_PRIVATE_KEY, DEMO_SECRET_KEY,
};
use harness::{Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    rotation_keeps_every_key_working,
    interrupted_rotation_loses_nothing,
    ciphertexts_moved_to_another_row_are_refused,
    an_older_pair_written_back_is_refused,
    audit_trail_records_each_action_once,
);

const SEED_API_KEY: &str = "SeedKeyOfThePythonEra0000000000000000000000000000000000000000001";
const SEED_SECRET_KEY: &str = "SeedSecretOfThePythonEra000000000000000000000000000000000000002";

/// Fernet tokens of `values` made by Python's `cryptography` (the seed's implementation), or
/// `None` when python3 with `cryptography` is not installed.
fn python_fernet_tokens(key: &str, values: &[&str]) -> Option<Vec<String>> {
    let script = "import sys\nfrom cryptography.fernet import Fernet\n\
                  f = Fernet(sys.argv[1].encode())\n\
                  for v in sys.argv[2:]: print(f.encrypt(v.encode()).decode())";
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(key)
        .args(values)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let tokens: Vec<String> = String::from_utf8(output.stdout)
        .ok()?
        .lines()
        .map(str::to_owned)
        .collect();
    (tokens.len() == values.len()).then_some(tokens)
}

/// The seed's bare tokens: made by Python when it is installed, else by the fernet crate.
fn seed_tokens(key: &str, values: &[&str]) -> Vec<String> {
    python_fernet_tokens(key, values).unwrap_or_else(|| {
        eprintln!("python3 with cryptography not found: seed tokens made by the fernet crate");
        let fernet = fernet::Fernet::new(key).unwrap();
        values
            .iter()
            .map(|v| fernet.encrypt(v.as_bytes()))
            .collect()
    })
}

async fn stored_rows(store: &Store) -> Vec<StoredCiphertexts> {
    let sql = "SELECT id, user_id, encrypted_api_key, encrypted_secret_key, encryption_key_id, \
               version FROM api_keys ORDER BY id";
    match store.pool() {
        Pool::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
        Pool::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
    }
}

async fn scalar(store: &Store, sql: &str) -> i64 {
    match store.pool() {
        Pool::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        Pool::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
    }
}

/// Both halves of a stored row, opened with `vault`.
fn open_row(vault: &Vault, row: &StoredCiphertexts) -> (String, String) {
    let open = |field, token: &str| {
        let owner = Owner {
            user_id: row.user_id,
            field,
            version: row.version,
        };
        vault
            .open(owner, token, row.encryption_key_id.as_deref())
            .unwrap_or_else(|e| panic!("row {}: {e}", row.id))
            .expose()
            .to_owned()
    };
    (
        open(Field::ApiKey, &row.encrypted_api_key),
        open(Field::SecretKey, &row.encrypted_secret_key),
    )
}

fn key_id(key: &str) -> String {
    Vault::new([key]).unwrap().primary_key_id().to_owned()
}

async fn user_id(server: &TestServer, token: &str) -> i64 {
    let (status, me) = server.get("/api/v1/users/me", token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    me["id"].as_i64().unwrap()
}

/// Stores a key row as the seed's Python code did: bare Fernet tokens, no key id.
async fn insert_seed_row(server: &TestServer, user_id: i64, key: &str) {
    let tokens = seed_tokens(key, &[SEED_API_KEY, SEED_SECRET_KEY]);
    let sql = format!(
        "INSERT INTO api_keys (user_id, encrypted_api_key, encrypted_secret_key, \
         api_key_masked, is_valid, created_at, updated_at, key_type, environment, permissions) \
         VALUES ({user_id}, $1, $2, 'Seed********0001', TRUE, $3, $3, 'hmac', 'mainnet', '{{}}')"
    );
    let now = chrono::Utc::now().to_rfc3339();
    let inserted = match server.store.pool() {
        Pool::Sqlite(pool) => sqlx::query(&sql)
            .bind(&tokens[0])
            .bind(&tokens[1])
            .bind(&now)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
        Pool::Postgres(pool) => sqlx::query(&sql)
            .bind(&tokens[0])
            .bind(&tokens[1])
            .bind(chrono::Utc::now())
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
    };
    assert_eq!(inserted, 1);
}

fn run_to_end(command: &mut std::process::Command) -> String {
    let output = command.output().expect("keywarden runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn balances_work(server: &TestServer, tokens: &[String]) {
    for token in tokens {
        let (status, body) = server.get("/api/v1/api-keys/balance", token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

async fn rotation_keeps_every_key_working(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let key_a = server.fernet_key.clone();
    let key_b = Vault::generate_key();
    harness::secret(&key_b);
    harness::secret(SEED_API_KEY);
    harness::secret(SEED_SECRET_KEY);
    server
        .exchange
        .add_account(SEED_API_KEY, Account::hmac(SEED_SECRET_KEY));

    // Three keys stored by Keywarden under key A, one as the seed stored it.
    let mut tokens = Vec::new();
    for (email, api_key, secret) in [
        ("hmac@example.com", DEMO_API_KEY, DEMO_SECRET_KEY),
        (
            "ed@example.com",
            DEMO_ED25519_API_KEY,
            DEMO_ED25519_PRIVATE_KEY,
        ),
        ("rsa@example.com", DEMO_RSA_API_KEY, DEMO_RSA_PRIVATE_KEY),
    ] {
        let token = server.user(email).await;
        let (status, body) = server.create_key(&token, api_key, secret).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        tokens.push(token);
    }
    let seed_user = server.user("seed@example.com").await;
    insert_seed_row(&server, user_id(&server, &seed_user).await, &key_a).await;
    tokens.push(seed_user.clone());
    balances_work(&server, &tokens).await;
    let (status, seed_key) = server.get("/api/v1/api-keys/me", &seed_user).await;
    assert_eq!(
        (status, seed_key["api_key_masked"].as_str()),
        (StatusCode::OK, Some("Seed********0001"))
    );

    // B becomes the primary key; the servers restart with the new keyring first.
    let ring = format!("{key_b},{key_a}");
    server
        .restart_with(&[("FERNET_KEY", None), ("FERNET_KEYS", Some(ring.clone()))])
        .await;
    balances_work(&server, &tokens).await;

    // Rotation runs while the server serves the same keys.
    let mut rotation = server
        .command(
            &["rotate-keys", "--batch-size", "2"],
            &[("FERNET_KEY", None), ("FERNET_KEYS", Some(&ring))],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut served = 0;
    while rotation.try_wait().unwrap().is_none() {
        balances_work(&server, &tokens).await;
        served += tokens.len();
    }
    let output = rotation.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("rotated 4 keys"), "{stdout}");
    assert!(stdout.contains("0 left"), "{stdout}");
    eprintln!("{served} balance reads served during the rotation");

    let b_id = key_id(&key_b);
    let rows = stored_rows(&server.store).await;
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter()
            .all(|r| r.encryption_key_id.as_deref() == Some(b_id.as_str()) && r.version != 0)
    );

    // Running it again finds nothing to do: nothing is encrypted twice.
    let again = run_to_end(&mut server.command(
        &["rotate-keys"],
        &[("FERNET_KEY", None), ("FERNET_KEYS", Some(&ring))],
    ));
    assert!(again.contains("rotated 0 keys"), "{again}");

    // Key A is retired: every key still decrypts, signs, and reads its balance.
    server
        .restart_with(&[("FERNET_KEYS", Some(key_b.clone()))])
        .await;
    balances_work(&server, &tokens).await;
    let (api_key, secret) = open_row(&Vault::new([key_b.as_str()]).unwrap(), rows.last().unwrap());
    assert_eq!(
        (api_key.as_str(), secret.as_str()),
        (SEED_API_KEY, SEED_SECRET_KEY)
    );
    let raw = server.raw_database_text().await;
    assert!(!raw.contains(SEED_SECRET_KEY) && !raw.contains(DEMO_SECRET_KEY));

    // Every row is an envelope now: bare tokens can be refused. One written in afterwards (a
    // pair someone else knows, made with the live key) is never used.
    server
        .restart_with(&[("KEYWARDEN_REFUSE_BARE_TOKENS", Some("true".into()))])
        .await;
    balances_work(&server, &tokens).await;
    let planted_user = server.user("planted@example.com").await;
    insert_seed_row(&server, user_id(&server, &planted_user).await, &key_b).await;
    balance_is_refused(&server, &planted_user).await;
    assert!(harness::error_lines().contains("KEYWARDEN_REFUSE_BARE_TOKENS"));
    // Nor is a pair sealed as before row versions (under the live key, for this very row).
    let planted_id = user_id(&server, &planted_user).await;
    let unversioned = |field| Owner {
        user_id: planted_id,
        field,
        version: 0,
    };
    let only_b = Vault::new([key_b.as_str()]).unwrap();
    let (api_key, secret) = (
        only_b.seal(unversioned(Field::ApiKey), SEED_API_KEY),
        only_b.seal(unversioned(Field::SecretKey), SEED_SECRET_KEY),
    );
    write_pair(&server, planted_id, &api_key.token, &secret.token, &b_id).await;
    balance_is_refused(&server, &planted_user).await;
    server
        .execute(&format!(
            "DELETE FROM api_keys WHERE user_id = {planted_id}"
        ))
        .await
        .unwrap();

    // Each key's owner sees its rotation once.
    for token in &tokens {
        let (status, page) = server.get("/api/v1/audit", token).await;
        assert_eq!(status, StatusCode::OK, "{page} {}", harness::error_lines());
        let rotations: Vec<&Value> = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "key.rotate")
            .collect();
        assert_eq!(rotations.len(), 1, "{page}");
        assert_eq!(rotations[0]["user_agent"], "keywarden rotate-keys");
    }
    server.finish().await;
}

/// Writes `count` users, each with a key sealed under `vault`, in one transaction.
async fn insert_sealed_keys(
    server: &TestServer,
    vault: &Vault,
    count: usize,
) -> Vec<(String, String)> {
    let mut expected = Vec::with_capacity(count);
    macro_rules! fill {
        ($pool:expr) => {{
            let mut tx = $pool.begin().await.unwrap();
            for i in 0..count {
                let email = format!("bulk{i}@example.com");
                let user_id: i64 = sqlx::query_scalar(
                    "INSERT INTO users (email, hashed_password, is_active, created_at) \
                     VALUES ($1, 'not-a-hash', TRUE, $2) RETURNING id",
                )
                .bind(&email)
                .bind(chrono::Utc::now())
                .fetch_one(&mut *tx)
                .await
                .unwrap();
                let api_key = format!("bulk-api-key-{i:06}");
                let secret = format!("bulk-secret-{i:06}");
                let owner = |field| Owner {
                    user_id,
                    field,
                    version: 0,
                };
                let seal = |field, value: &str| vault.seal(owner(field), value);
                let (k, s) = (
                    seal(Field::ApiKey, &api_key),
                    seal(Field::SecretKey, &secret),
                );
                sqlx::query(
                    "INSERT INTO api_keys (user_id, encrypted_api_key, encrypted_secret_key, \
                     encryption_key_id, api_key_masked, is_valid, created_at, updated_at, \
                     key_type, environment, permissions) \
                     VALUES ($1, $2, $3, $4, 'bulk********0000', TRUE, $5, $5, 'hmac', \
                     'mainnet', '{}')",
                )
                .bind(user_id)
                .bind(&k.token)
                .bind(&s.token)
                .bind(&k.key_id)
                .bind(chrono::Utc::now())
                .execute(&mut *tx)
                .await
                .unwrap();
                expected.push((api_key, secret));
            }
            tx.commit().await.unwrap();
        }};
    }
    match server.store.pool() {
        Pool::Sqlite(pool) => fill!(pool),
        Pool::Postgres(pool) => fill!(pool),
    }
    expected
}

async fn interrupted_rotation_loses_nothing(backend: Backend) {
    const KEYS: usize = 1000;
    let server = TestServer::start(backend).await;
    let key_a = server.fernet_key.clone();
    let key_b = Vault::generate_key();
    harness::secret(&key_b);
    let expected = insert_sealed_keys(&server, &Vault::new([key_a.as_str()]).unwrap(), KEYS).await;
    let ring = format!("{key_b},{key_a}");
    let b_id = key_id(&key_b);
    let under_b = format!("SELECT COUNT(*) FROM api_keys WHERE encryption_key_id = '{b_id}'");
    let rotations = "SELECT COUNT(*) FROM audit_events WHERE action = 'key.rotate'";

    // Killed (SIGKILL) once a few batches have committed.
    let mut rotation = server
        .command(
            &["rotate-keys", "--batch-size", "50", "--pause-ms", "40"],
            &[("FERNET_KEY", None), ("FERNET_KEYS", Some(&ring))],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let progress = BufReader::new(rotation.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in progress.lines() {
        let line = line.unwrap();
        if line.starts_with("progress 200/") {
            break;
        }
        seen.push(line);
    }
    assert!(
        rotation.try_wait().unwrap().is_none(),
        "rotation ended early: {seen:?}"
    );
    rotation.kill().unwrap();
    rotation.wait().unwrap();
    let done = scalar(&server.store, &under_b).await;
    assert!(
        (200..KEYS as i64).contains(&done),
        "{done} rotated before the kill"
    );
    assert_eq!(done % 50, 0, "only whole batches commit");
    assert_eq!(scalar(&server.store, rotations).await, done);
    let ring_vault = Vault::new([key_b.as_str(), key_a.as_str()]).unwrap();
    let rows = stored_rows(&server.store).await;
    for (row, pair) in rows.iter().zip(&expected) {
        assert_eq!(&open_row(&ring_vault, row), pair);
    }

    // Run again: it finishes the rest, each key exactly once.
    let stdout = run_to_end(&mut server.command(
        &["rotate-keys"],
        &[("FERNET_KEY", None), ("FERNET_KEYS", Some(&ring))],
    ));
    assert!(
        stdout.contains(&format!("rotated {} keys", KEYS as i64 - done)),
        "{stdout}"
    );
    eprintln!("{backend:?}: {}", stdout.lines().last().unwrap_or_default());
    assert_eq!(scalar(&server.store, &under_b).await, KEYS as i64);
    assert_eq!(scalar(&server.store, rotations).await, KEYS as i64);
    let only_b = Vault::new([key_b.as_str()]).unwrap();
    let rows = stored_rows(&server.store).await;
    assert_eq!(rows.len(), KEYS);
    for (row, pair) in rows.iter().zip(&expected) {
        assert_eq!(&open_row(&only_b, row), pair);
    }
    server.finish().await;
}

/// The user's stored pair is refused rather than used: 500 `stored_key_unreadable`.
async fn balance_is_refused(server: &TestServer, token: &str) {
    let (status, body) = server.get("/api/v1/api-keys/balance", token).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("stored_key_unreadable")
        ),
        "{body}"
    );
}

/// Overwrites a user's stored pair as someone with write access to the database could.
async fn write_pair(server: &TestServer, user_id: i64, api_key: &str, secret: &str, key_id: &str) {
    let sql = format!(
        "UPDATE api_keys SET encrypted_api_key = '{api_key}', encrypted_secret_key = '{secret}', \
         encryption_key_id = '{key_id}' WHERE user_id = {user_id}"
    );
    assert_eq!(server.execute(&sql).await.unwrap(), 1);
}

/// The row version sealed into both halves: a pair the user replaced (or deleted) and someone
/// writes back, ciphertexts and key id together, is refused rather than signed with.
async fn an_older_pair_written_back_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    harness::secret(SEED_API_KEY);
    harness::secret(SEED_SECRET_KEY);
    server
        .exchange
        .add_account(SEED_API_KEY, Account::hmac(SEED_SECRET_KEY));
    let alice = server.user("alice@example.com").await;
    let alice_id = user_id(&server, &alice).await;
    let (status, body) = server
        .create_key(&alice, SEED_API_KEY, SEED_SECRET_KEY)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let older = stored_rows(&server.store).await.remove(0);
    assert_ne!(older.version, 0);
    let older_key_id = older.encryption_key_id.clone().unwrap();
    let write_back = async || {
        write_pair(
            &server,
            alice_id,
            &older.encrypted_api_key,
            &older.encrypted_secret_key,
            &older_key_id,
        )
        .await;
        balance_is_refused(&server, &alice).await;
        assert!(harness::error_lines().contains("another version of its row"));
    };

    // Replaced by another pair: the row keeps its id and takes a new version.
    let demo = json!({"api_key": DEMO_API_KEY, "secret_key": DEMO_SECRET_KEY});
    let (status, body) = server
        .call(Method::PUT, "/api/v1/api-keys/me", Some(&alice), Some(demo))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let newer = stored_rows(&server.store).await.remove(0);
    assert_eq!(newer.id, older.id);
    assert_ne!(newer.version, older.version);
    let (status, _) = server.get("/api/v1/api-keys/balance", &alice).await;
    assert_eq!(status, StatusCode::OK);
    write_back().await;

    // Deleted and added again: a new row, whose version the old pair does not carry either.
    let (status, _) = server
        .call(Method::DELETE, "/api/v1/api-keys/me", Some(&alice), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    server.add_demo_key(&alice).await;
    write_back().await;
    server.finish().await;
}

async fn ciphertexts_moved_to_another_row_are_refused(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let alice = server.user("alice@example.com").await;
    let mallory = server.user("mallory@example.com").await;
    server.add_demo_key(&alice).await;
    server.add_demo_key(&mallory).await;
    let alice_id = user_id(&server, &alice).await;
    let mallory_id = user_id(&server, &mallory).await;

    // Alice's ciphertexts copied into Mallory's row, then the two halves of a row swapped.
    let copy = format!(
        "UPDATE api_keys SET encrypted_api_key = (SELECT encrypted_api_key FROM api_keys \
         WHERE user_id = {alice_id}), encrypted_secret_key = (SELECT encrypted_secret_key \
         FROM api_keys WHERE user_id = {alice_id}) WHERE user_id = {mallory_id}"
    );
    assert_eq!(server.execute(&copy).await.unwrap(), 1);
    balance_is_refused(&server, &mallory).await;
    let swap = format!(
        "UPDATE api_keys SET encrypted_api_key = encrypted_secret_key, \
         encrypted_secret_key = encrypted_api_key WHERE user_id = {alice_id}"
    );
    assert_eq!(server.execute(&swap).await.unwrap(), 1);
    balance_is_refused(&server, &alice).await;
    assert!(harness::logs_contain("refusing a stored credential"));

    // Rotation skips the two unreadable rows, names them, fails, and rotates the rest: a bad
    // row does not block it, however often it runs.
    let carol = server.user("carol@example.com").await;
    server.add_demo_key(&carol).await;
    let key_id_of = |token: &String| {
        let token = token.clone();
        let server = &server;
        async move {
            server.get("/api/v1/api-keys/me", &token).await.1["id"]
                .as_i64()
                .unwrap()
        }
    };
    let (alice_key, mallory_key) = (key_id_of(&alice).await, key_id_of(&mallory).await);
    let ring = format!(
        "{},{}",
        app::vault::Vault::generate_key(),
        server.fernet_key
    );
    for run in ["first", "second"] {
        let output = server.rotate_keys_under(&ring);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{run}: {stdout}");
        let rotated = if run == "first" {
            "rotated 1 keys"
        } else {
            "rotated 0 keys"
        };
        assert!(stdout.contains(rotated), "{run}: {stdout}");
        let mut named = [alice_key, mallory_key];
        named.sort();
        let ids = format!("API keys with id {}, {}", named[0], named[1]);
        assert!(stderr.contains(&ids), "{run}: {stderr}");
    }
    server
        .restart_with(&[("FERNET_KEY", None), ("FERNET_KEYS", Some(ring))])
        .await;
    let (status, _) = server.get("/api/v1/api-keys/balance", &carol).await;
    assert_eq!(status, StatusCode::OK);
    server.finish().await;
}

/// The caller's whole audit trail, newest first, read page by page.
async fn audit_trail(server: &TestServer, token: &str, page_size: u32) -> Vec<Value> {
    let mut events = Vec::new();
    let mut path = format!("/api/v1/audit?limit={page_size}");
    loop {
        let (status, page) = server.get(&path, token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let batch = page["events"].as_array().unwrap();
        assert!(batch.len() <= page_size as usize);
        events.extend(batch.iter().cloned());
        match page["next_before"].as_i64() {
            Some(before) => path = format!("/api/v1/audit?limit={page_size}&before={before}"),
            None => return events,
        }
    }
}

fn actions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap()
            )
        })
        .collect()
}

async fn audit_trail_records_each_action_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("ann@example.com").await;
    let other = server.user("ben@example.com").await;

    // Someone tries Ann's account with a wrong password.
    let (status, _) = server.login("ann@example.com", "wrong password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Binance refuses a key; then everything else succeeds.
    let (status, _) = server
        .create_key(&token, &"Z".repeat(64), DEMO_SECRET_KEY)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let key = server.add_demo_key(&token).await;
    let steps: [(Method, &str, Option<Value>, StatusCode); 6] = [
        (
            Method::POST,
            "/api/v1/api-keys/me/validate",
            None,
            StatusCode::OK,
        ),
        (
            Method::GET,
            "/api/v1/api-keys/balance",
            None,
            StatusCode::OK,
        ),
        (
            Method::PATCH,
            "/api/v1/api-keys/me",
            Some(json!({"label": "renamed"})),
            StatusCode::OK,
        ),
        (
            Method::PUT,
            "/api/v1/api-keys/me",
            Some(json!({"api_key": DEMO_ED25519_API_KEY, "secret_key": DEMO_ED25519_PRIVATE_KEY})),
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/api/v1/bot-configs",
            Some(json!({"name": "grid", "symbol": "BTCUSDT"})),
            StatusCode::CREATED,
        ),
        (Method::GET, "/api/v1/bot-configs", None, StatusCode::OK),
    ];
    for (method, path, body, expected) in steps {
        let (status, answer) = server.call(method, path, Some(&token), body).await;
        assert_eq!(status, expected, "{path}: {answer}");
    }
    let (_, configs) = server.get("/api/v1/bot-configs", &token).await;
    let config_id = configs[0]["id"].as_i64().unwrap();
    let (status, _) = server
        .delete(&format!("/api/v1/bot-configs/{config_id}"), &token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server.delete("/api/v1/api-keys/me", &token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let events = audit_trail(&server, &token, 3).await;
    assert_eq!(
        actions(&events),
        [
            "key.delete success",
            "bot_config.delete success",
            "bot_config.create success",
            "key.replace success",
            "key.rename success",
            "key.use success",
            "key.validate success",
            "key.create success",
            "key.create failure",
            "user.login failure",
            "user.login success",
            "user.register success",
        ]
    );
    assert_eq!(events, audit_trail(&server, &token, 200).await);
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let by_action = |action: &str, outcome: &str| {
        events
            .iter()
            .find(|e| e["action"] == action && e["outcome"] == outcome)
            .unwrap()
    };
    assert_eq!(
        by_action("user.login", "failure")["error_code"],
        "invalid_credentials"
    );
    assert_eq!(
        by_action("key.create", "failure")["error_code"],
        "binance_rejected"
    );
    for action in ["key.use", "key.rename", "key.delete", "bot_config.create"] {
        assert_eq!(
            by_action(action, "success")["api_key_id"],
            key["id"],
            "{action}"
        );
    }
    for event in &events {
        assert_eq!(event["ip"], "127.0.0.1", "{event}");
        assert_eq!(event["user_agent"], "keywarden-tests", "{event}");
    }

    // Ben sees only his own events.
    assert_eq!(
        actions(&audit_trail(&server, &other, 50).await),
        ["user.login success", "user.register success"]
    );

    // Bad cursors and limits are refused; the trail cannot be edited.
    for query in ["limit=0", "limit=201", "limit=x", "before=0", "before=abc"] {
        let (status, body) = server.get(&format!("/api/v1/audit?{query}"), &token).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["code"], "validation_error");
    }
    let (status, _) = server
        .call(Method::DELETE, "/api/v1/audit", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    for sql in [
        "UPDATE audit_events SET outcome = 'success'",
        "DELETE FROM audit_events",
    ] {
        let refused = server.execute(sql).await.unwrap_err();
        assert!(refused.to_string().contains("append-only"), "{refused}");
    }
    assert_eq!(server.count("audit_events").await, 14);

    // Retention: the operator deletes what is older than the period, never younger than 90 days.
    let long_ago = match backend {
        Backend::Sqlite => "'2000-01-01T00:00:00+00:00'",
        Backend::Postgres => "now() - INTERVAL '200 days'",
    };
    server
        .execute(&format!(
            "INSERT INTO audit_events (user_id, action, outcome, created_at) \
             VALUES (1, 'user.login', 'success', {long_ago})"
        ))
        .await
        .unwrap();
    let prune = |older_than: &str| {
        let output = server
            .command(&["prune-audit", "--older-than", older_than], &[])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    };
    let (done, text) = prune("30d");
    assert!(!done && text.contains("at least 90 days"), "{text}");
    let (done, text) = prune("180d");
    assert!(done, "{text}");
    assert!(text.contains("deleted 1 audit events"), "{text}");
    assert_eq!(server.count("audit_events").await, 14);
    let refused = server
        .execute("DELETE FROM audit_events WHERE action = 'user.login'")
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("append-only"), "{refused}");
    server.finish().await;
}

/// The SQLite database, its WAL files and the directories Keywarden makes for them are this
/// user's alone, and so is the data directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("fresh").join("store").join("keywarden.db");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let overrides = std::collections::HashMap::from([
        ("DATABASE_URL", format!("sqlite://{}", database.display())),
        ("KEYWARDEN_DATA_DIR", data.display().to_string()),
    ]);
    let server = TestServer::start_with(Backend::Sqlite, overrides).await;
    let token = server.user("mode@example.com").await;
    server.add_demo_key(&token).await;
    let mode = |path: std::path::PathBuf| {
        let metadata = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        (path, metadata.permissions().mode() & 0o777)
    };
    let with = |suffix: &str| {
        let mut path = database.as_os_str().to_owned();
        path.push(suffix);
        std::path::PathBuf::from(path)
    };
    for (path, found) in [
        mode(dir.path().join("fresh")),
        mode(database.parent().unwrap().to_owned()),
        mode(data.clone()),
    ] {
        assert_eq!(found, 0o700, "{path:?}");
    }
    for (path, found) in [mode(with("")), mode(with("-wal")), mode(with("-shm"))] {
        assert_eq!(found, 0o600, "{path:?}");
    }
    server.finish().await;
}
