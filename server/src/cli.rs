//! The ops commands of the one `keywarden` binary.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use app::service::ClientInfo;
use app::store::SealedSecrets;

use crate::config::Config;

pub const USAGE: &str = "\
keywarden: Binance API key custody for trading bots

Usage: keywarden [COMMAND] [OPTIONS]

Commands:
  serve                      serve the web app and REST API (the default)
  migrate                    apply database migrations and exit
  rotate-keys                re-encrypt every stored key under the first of FERNET_KEYS
  gen-key                    print a new Fernet key (for FERNET_KEYS)
  create-user --email EMAIL  create a user; the password is read from stdin
  deactivate-user --email EMAIL
  prune-audit --older-than DURATION
                             delete audit events older than DURATION (at least 90d)
                             deactivate a user; their tokens stop working at once
  help                       print this help

`keywarden COMMAND --help` describes one command. Every setting comes from the environment;
see README.md.";

const SERVE_HELP: &str = "\
Usage: keywarden serve

Serves the web app, the REST API under /api/v1 and its OpenAPI document at /api/openapi.json
on KEYWARDEN_ADDR, applying pending migrations first. Stops gracefully on SIGTERM or Ctrl-C.";

const MIGRATE_HELP: &str = "\
Usage: keywarden migrate

Applies pending migrations to DATABASE_URL (migrations/sqlite or migrations/postgres) and exits.";

const ROTATE_KEYS_HELP: &str = "\
Usage: keywarden rotate-keys [--batch-size N] [--pause-ms MS]

Re-encrypts every stored key pair that is not yet under the first key of FERNET_KEYS (including
the seed's bare tokens) with that key, as an envelope bound to its row, then every webhook's
signing secret. Each batch is one
transaction and writes one `key.rotate` audit event per key. Safe to interrupt and run again,
and safe while servers run, once every server has the new keyring (new key first, old keys
after it). When it reports 0 keys left, the old keys can be removed from FERNET_KEYS.

Options:
  --batch-size N   keys per transaction (default 500)
  --pause-ms MS    pause between batches, to spare a busy database (default 0)";

const GEN_KEY_HELP: &str = "\
Usage: keywarden gen-key

Prints a new random Fernet key (32 bytes, URL-safe base64). To rotate, put it first in
FERNET_KEYS, restart the servers, then run `keywarden rotate-keys`.";

const CREATE_USER_HELP: &str = "\
Usage: keywarden create-user --email EMAIL

Creates an active user. The password (8-128 characters) is read from the first line of stdin,
so it never appears in the process list or shell history.";

const PRUNE_AUDIT_HELP: &str = "\
Usage: keywarden prune-audit --older-than DURATION

Deletes the audit events older than DURATION (such as 400d), at least 90 days: the database
refuses to delete anything younger, and every other change to the trail, whoever asks.";

const DEACTIVATE_USER_HELP: &str = "\
Usage: keywarden deactivate-user --email EMAIL

Deactivates a user: every request with their tokens is answered 403 from now on.";

pub enum Command {
    Serve,
    Migrate,
    RotateKeys { batch_size: i64, pause: Duration },
    GenKey,
    CreateUser { email: String },
    DeactivateUser { email: String },
    PruneAudit { keep: Duration },
    Help(&'static str),
}

pub fn parse(args: &[String]) -> Result<Command, String> {
    let value = |flag: &str| -> Option<Result<&String, String>> {
        let i = args.iter().position(|a| a == flag)?;
        Some(
            args.get(i + 1)
                .ok_or_else(|| format!("{flag} needs a value")),
        )
    };
    let email = || -> Result<String, String> {
        value("--email")
            .unwrap_or_else(|| Err("missing --email EMAIL".to_owned()))
            .cloned()
    };
    let number = |flag: &str, default: u64| -> Result<u64, String> {
        match value(flag) {
            None => Ok(default),
            Some(text) => text?
                .parse()
                .map_err(|_| format!("{flag} needs a whole number")),
        }
    };
    let command = args.first().map(String::as_str);
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(Command::Help(match command {
            Some("serve") => SERVE_HELP,
            Some("migrate") => MIGRATE_HELP,
            Some("rotate-keys") => ROTATE_KEYS_HELP,
            Some("gen-key") => GEN_KEY_HELP,
            Some("create-user") => CREATE_USER_HELP,
            Some("deactivate-user") => DEACTIVATE_USER_HELP,
            Some("prune-audit") => PRUNE_AUDIT_HELP,
            _ => USAGE,
        }));
    }
    match command {
        None | Some("serve") => Ok(Command::Serve),
        Some("migrate") => Ok(Command::Migrate),
        Some("rotate-keys") => {
            let batch_size = number("--batch-size", 500)?;
            if batch_size == 0 {
                return Err("--batch-size must be at least 1".into());
            }
            Ok(Command::RotateKeys {
                batch_size: batch_size.min(i64::MAX as u64) as i64,
                pause: Duration::from_millis(number("--pause-ms", 0)?),
            })
        }
        Some("gen-key") => Ok(Command::GenKey),
        Some("create-user") => Ok(Command::CreateUser { email: email()? }),
        Some("deactivate-user") => Ok(Command::DeactivateUser { email: email()? }),
        Some("prune-audit") => {
            let keep = value("--older-than")
                .unwrap_or_else(|| Err("missing --older-than DURATION".to_owned()))?;
            let keep = crate::config::parse_duration(keep)
                .ok_or_else(|| format!("--older-than: {keep:?} is not a duration like 365d"))?;
            Ok(Command::PruneAudit { keep })
        }
        Some("help") => Ok(Command::Help(USAGE)),
        Some(other) => Err(format!("unknown command {other:?}")),
    }
}

pub async fn migrate(config: &Config) -> Result<(), String> {
    let store = crate::open_store(config).await.map_err(|e| e.to_string())?;
    println!("migrations applied to the {} database", store.backend());
    store.close().await;
    Ok(())
}

/// Re-encrypts, batch by batch, every key not yet under the primary Fernet key.
pub async fn rotate_keys(config: &Config, batch_size: i64, pause: Duration) -> Result<(), String> {
    let keywarden = crate::build_keywarden(config)
        .await
        .map_err(|e| e.to_string())?;
    let total = keywarden
        .keys_to_rotate()
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "rotating {total} keys to Fernet key {} in batches of {batch_size}",
        keywarden.primary_key_id()
    );
    let progress = Progress::new(total.max(0) as u64);
    let started = Instant::now();
    let (mut after_id, mut read, mut rewritten) = (0, 0u64, 0u64);
    let mut unreadable: Vec<i64> = Vec::new();
    loop {
        let batch = keywarden
            .rotate_batch(after_id, batch_size)
            .await
            .map_err(|e| format!("rotation stopped after {rewritten} keys: {e}"))?;
        if batch.read == 0 {
            break;
        }
        after_id = batch.last_id;
        unreadable.extend(&batch.unreadable);
        read += batch.read as u64;
        rewritten += batch.rewritten;
        progress.show(read);
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    let left = keywarden
        .keys_to_rotate()
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "rotated {rewritten} keys in {seconds:.2} s ({:.0} keys/s); {left} left under other keys \
         or without a row version",
        rewritten as f64 / seconds.max(1e-9)
    );
    if left > unreadable.len() as i64 {
        println!("some keys were rewritten meanwhile by a server with an older keyring: run again");
    }
    let list = |ids: &[i64]| {
        ids.iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut skipped = Vec::new();
    if !unreadable.is_empty() {
        skipped.push(format!("API keys with id {}", list(&unreadable)));
    }
    for (kind, rows) in [
        (SealedSecrets::Webhook, "webhooks with id"),
        (SealedSecrets::Totp, "second factors of the users with id"),
    ] {
        let (rotated, unreadable) = keywarden
            .rotate_sealed_secrets(kind)
            .await
            .map_err(|e| format!("{}: {e}", kind.name()))?;
        println!("rotated {rotated} {}", kind.name());
        if !unreadable.is_empty() {
            skipped.push(format!("{rows} {}", list(&unreadable)));
        }
    }
    keywarden.store().close().await;
    if skipped.is_empty() {
        return Ok(());
    }
    Err(format!(
        "could not read and left as they are: {}. Their Fernet key is not in FERNET_KEYS, or \
         their ciphertexts were altered (the error log names each); everything else is rotated",
        skipped.join("; ")
    ))
}

/// A progress bar on a terminal, a line per batch otherwise (logs, tests).
struct Progress {
    total: u64,
    terminal: bool,
}

impl Progress {
    fn new(total: u64) -> Self {
        Self {
            total,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn show(&self, done: u64) {
        let mut err = std::io::stderr().lock();
        if self.terminal {
            const WIDTH: u64 = 30;
            let filled = (done * WIDTH)
                .checked_div(self.total)
                .unwrap_or(WIDTH)
                .min(WIDTH);
            let bar = "#".repeat(filled as usize) + &".".repeat((WIDTH - filled) as usize);
            let _ = write!(err, "\r[{bar}] {done}/{}", self.total);
        } else {
            let _ = writeln!(err, "progress {done}/{}", self.total);
        }
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }
}

pub async fn create_user(config: &Config, email: &str) -> Result<(), String> {
    // The line as read is wiped once the password is taken from it; the service wipes that
    // copy once it is hashed.
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    let keywarden = crate::build_keywarden(config)
        .await
        .map_err(|e| e.to_string())?;
    let user = keywarden
        .register(email, password, &ClientInfo::keywarden("create-user"))
        .await
        .map_err(|e| e.to_string())?;
    println!("created user {} ({})", user.id, user.email);
    Ok(())
}

pub async fn deactivate_user(config: &Config, email: &str) -> Result<(), String> {
    let keywarden = crate::build_keywarden(config)
        .await
        .map_err(|e| e.to_string())?;
    let deactivated = keywarden
        .deactivate_user(email, &ClientInfo::keywarden("deactivate-user"))
        .await;
    keywarden.store().close().await;
    let user = deactivated.map_err(|e| format!("{e}: {email}"))?;
    println!("deactivated {}", user.email);
    Ok(())
}

/// Deletes the audit events older than `keep`.
pub async fn prune_audit(config: &Config, keep: Duration) -> Result<(), String> {
    let keywarden = crate::build_keywarden(config)
        .await
        .map_err(|e| e.to_string())?;
    let keep = chrono::Duration::from_std(keep).map_err(|e| e.to_string())?;
    let pruned = keywarden.prune_audit(keep).await;
    keywarden.store().close().await;
    let pruned = pruned.map_err(|e| e.to_string())?;
    println!(
        "deleted {pruned} audit events older than {} days",
        keep.num_days()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Command, String> {
        parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn each_command_has_its_own_help() {
        for (command, needle) in [
            ("rotate-keys", "--batch-size"),
            ("create-user", "stdin"),
            ("gen-key", "FERNET_KEYS"),
            ("serve", "SIGTERM"),
        ] {
            match parsed(&[command, "--help"]) {
                Ok(Command::Help(text)) => assert!(text.contains(needle), "{command}"),
                _ => panic!("{command} --help"),
            }
        }
    }

    #[test]
    fn rotate_keys_options_are_checked() {
        match parsed(&["rotate-keys", "--batch-size", "50", "--pause-ms", "10"]) {
            Ok(Command::RotateKeys { batch_size, pause }) => {
                assert_eq!((batch_size, pause.as_millis()), (50, 10));
            }
            _ => panic!("rotate-keys options"),
        }
        assert!(parsed(&["rotate-keys", "--batch-size", "0"]).is_err());
        assert!(parsed(&["rotate-keys", "--batch-size", "x"]).is_err());
        assert!(parsed(&["rotate-keys", "--pause-ms"]).is_err());
        assert!(parsed(&["create-user"]).is_err());
    }
}
