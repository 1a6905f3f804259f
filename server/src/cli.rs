//! The ops commands of the one `keywarden` binary.

use std::io::BufRead;

use crate::config::Config;

pub const USAGE: &str = "\
keywarden: Binance API key custody for trading bots

Usage: keywarden [COMMAND]

Commands:
  serve                      serve the web app and REST API (the default)
  migrate                    apply database migrations and exit
  gen-key                    print a new Fernet key (for FERNET_KEY)
  create-user --email EMAIL  create a user; the password is read from stdin
  deactivate-user --email EMAIL
                             deactivate a user; their tokens stop working at once
  help                       print this help

Every setting comes from the environment; see README.md.";

pub enum Command {
    Serve,
    Migrate,
    GenKey,
    CreateUser { email: String },
    DeactivateUser { email: String },
    Help,
}

pub fn parse(args: &[String]) -> Result<Command, String> {
    let wants_help = args.iter().any(|a| a == "--help" || a == "-h");
    let email = || -> Result<String, String> {
        match args.iter().position(|a| a == "--email") {
            Some(i) => args
                .get(i + 1)
                .cloned()
                .ok_or_else(|| "--email needs a value".to_owned()),
            None => Err("missing --email EMAIL".to_owned()),
        }
    };
    if wants_help {
        return Ok(Command::Help);
    }
    match args.first().map(String::as_str) {
        None | Some("serve") => Ok(Command::Serve),
        Some("migrate") => Ok(Command::Migrate),
        Some("gen-key") => Ok(Command::GenKey),
        Some("create-user") => Ok(Command::CreateUser { email: email()? }),
        Some("deactivate-user") => Ok(Command::DeactivateUser { email: email()? }),
        Some("help") => Ok(Command::Help),
        Some(other) => Err(format!("unknown command {other:?}")),
    }
}

pub async fn migrate(config: &Config) -> Result<(), String> {
    let store = crate::open_store(config).await.map_err(|e| e.to_string())?;
    println!("migrations applied to the {} database", store.backend());
    store.close().await;
    Ok(())
}

pub async fn create_user(config: &Config, email: &str) -> Result<(), String> {
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .map_err(|e| e.to_string())?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    let keywarden = crate::build_keywarden(config)
        .await
        .map_err(|e| e.to_string())?;
    let user = keywarden
        .register(email, password)
        .await
        .map_err(|e| e.to_string())?;
    println!("created user {} ({})", user.id, user.email);
    Ok(())
}

pub async fn deactivate_user(config: &Config, email: &str) -> Result<(), String> {
    let store = crate::open_store(config).await.map_err(|e| e.to_string())?;
    let email = app::service::validate_email(email).map_err(|e| e.to_string())?;
    let found = store
        .set_user_active(&email, false)
        .await
        .map_err(|e| e.to_string())?;
    store.close().await;
    if !found {
        return Err(format!("no user with email {email}"));
    }
    println!("deactivated {email}");
    Ok(())
}
