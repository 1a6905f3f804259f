//! Micro-benchmarks of the cryptography on Keywarden's paths: Fernet sealing and opening of a
//! key pair, each Binance signer, access-token issue and check, the mask, and one argon2id
//! password hash. `make bench` runs them; `cargo bench -p app --features ssr --bench crypto`
//! runs only these.

use std::hint::black_box;

use app::exchange::Signer;
use app::service::{Tokens, mask_api_key, password_hasher};
use app::vault::{Field, Owner, Vault, new_row_version};
use argon2::PasswordHasher;
use argon2::password_hash::SaltString;
use criterion::{Criterion, criterion_group, criterion_main};

const API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const SECRET_KEY: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIIJEYWtGBrhACmb9Dvy+qa8WEf0lQOl1s4CLIAB9m89u\n-----END PRIVATE KEY-----\n";
const RSA_PEM: &str = include_str!("../../end2end/fake-exchange/fixtures/rsa-2048-test-key.pem");
/// A signed account query as the exchange client sends it.
const QUERY: &str = "timestamp=1700000000000&recvWindow=5000";

fn fernet(c: &mut Criterion) {
    let vault = Vault::new([Vault::generate_key().as_str()]).unwrap();
    let version = new_row_version();
    let owner = |field| Owner {
        user_id: 42,
        field,
        version,
    };
    c.bench_function("fernet seal key pair", |b| {
        b.iter(|| {
            (
                vault.seal(owner(Field::ApiKey), black_box(API_KEY)),
                vault.seal(owner(Field::SecretKey), black_box(SECRET_KEY)),
            )
        })
    });
    let api = vault.seal(owner(Field::ApiKey), API_KEY);
    let secret = vault.seal(owner(Field::SecretKey), SECRET_KEY);
    c.bench_function("fernet open key pair", |b| {
        b.iter(|| {
            (
                vault.open(
                    owner(Field::ApiKey),
                    black_box(&api.token),
                    Some(&api.key_id),
                ),
                vault.open(
                    owner(Field::SecretKey),
                    black_box(&secret.token),
                    Some(&secret.key_id),
                ),
            )
        })
    });
}

fn signers(c: &mut Criterion) {
    for (name, secret) in [
        ("hmac", SECRET_KEY),
        ("ed25519", ED25519_PEM),
        ("rsa-2048", RSA_PEM),
    ] {
        let signer = Signer::from_secret(secret).unwrap();
        c.bench_function(&format!("sign {name}"), |b| {
            b.iter(|| signer.sign(black_box(QUERY)))
        });
    }
}

fn tokens(c: &mut Criterion) {
    let tokens = Tokens::new(
        b"benchmark-secret-of-enough-length-0123456789",
        chrono::Duration::minutes(15),
    );
    let now = chrono::Utc::now();
    c.bench_function("jwt issue", |b| {
        b.iter(|| tokens.issue(black_box(42), "session", now))
    });
    let token = tokens.issue(42, "session", now).unwrap();
    c.bench_function("jwt verify", |b| {
        b.iter(|| tokens.verify(black_box(&token), now))
    });
}

fn mask(c: &mut Criterion) {
    c.bench_function("mask api key", |b| {
        b.iter(|| mask_api_key(black_box(API_KEY)))
    });
}

fn password(c: &mut Criterion) {
    let mut group = c.benchmark_group("argon2id m=19MiB t=2 p=1");
    group.sample_size(10);
    group.bench_function("hash password", |b| {
        b.iter(|| {
            let salt = SaltString::from_b64("c2FsdHNhbHRzYWx0c2FsdA").unwrap();
            password_hasher()
                .hash_password(black_box(b"correct horse battery"), &salt)
                .unwrap()
                .to_string()
        })
    });
    group.finish();
}

criterion_group!(benches, fernet, signers, tokens, mask, password);
criterion_main!(benches);
