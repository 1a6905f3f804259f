use server::cli::{self, Command};
use server::config::{Config, env_var, settings};
use tracing_subscriber::EnvFilter;

/// Each password hash allocates 19 MiB. glibc raises its mmap threshold after such a block is
/// freed, so later ones come from per-thread heaps that never shrink, and the process keeps
/// hundreds of MiB after a burst of sign-ins. A fixed threshold returns each block at once.
/// glibc also gives threads up to 8 heaps per core (arenas), each holding on to its own free
/// memory; one per core (at least two) serves the async workers and the hashing threads, and
/// lowered the peak of a sign-in flood beside a read load from 42.4-43.3 MB to 41.3-41.5 MB.
fn tune_the_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = i32::try_from(cores.max(2)).unwrap_or(i32::MAX);
        // SAFETY: mallopt only tunes the allocator; it is called before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

fn main() {
    tune_the_allocator();
    let flush_logs_at_exit = init_logging();
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
        .block_on(run());
    drop(flush_logs_at_exit);
    if let Err(message) = outcome {
        eprintln!("keywarden: {message}");
        std::process::exit(2);
    }
}

/// Log lines are written by a thread of their own, in batches (see `log_writer`).
fn init_logging() -> server::log_writer::Flush<std::io::Stdout> {
    use std::io::IsTerminal;
    let (writer, flush) = server::log_writer::log_writer(std::io::stdout());
    let filter = EnvFilter::try_from_env(settings::RUST_LOG.name)
        .unwrap_or_else(|_| EnvFilter::new(settings::RUST_LOG.default_value()));
    let terminal = std::io::stdout().is_terminal();
    let logs = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(terminal)
        .with_env_filter(filter);
    // Read before the configuration, so that configuration messages are logged in the format.
    if settings::KEYWARDEN_LOG_FORMAT.value(&env_var) == "json" {
        logs.json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else if terminal {
        logs.init();
    } else {
        logs.event_format(server::log_line::TextLine).init();
    }
    flush
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = cli::parse(&args).map_err(|message| format!("{message}\n\n{}", cli::USAGE))?;
    if let Command::Help(text) = command {
        println!("{text}");
        return Ok(());
    }
    if let Command::GenKey = command {
        println!("{}", app::vault::Vault::generate_key());
        return Ok(());
    }
    let config = Config::from_env().map_err(|e| format!("configuration: {e}"))?;
    match command {
        Command::Migrate => cli::migrate(&config).await,
        Command::RotateKeys { batch_size, pause } => {
            cli::rotate_keys(&config, batch_size, pause).await
        }
        Command::CreateUser { email } => cli::create_user(&config, &email).await,
        Command::DeactivateUser { email } => cli::deactivate_user(&config, &email).await,
        Command::PruneAudit { keep } => cli::prune_audit(&config, keep).await,
        _ => serve(config).await,
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let keywarden = server::build_keywarden(&config)
        .await
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    tracing::info!(
        "Keywarden listening on http://{} ({} database)",
        config.addr,
        keywarden.store().backend()
    );
    let _revalidation = server::spawn_revalidation(keywarden.clone(), config.revalidate_every);
    let _deliveries = server::spawn_alert_deliveries(keywarden.clone());
    let _purge = server::spawn_purge(keywarden.clone());
    let store = keywarden.store().clone();
    let routers = server::routers(keywarden, &config);
    let settings = server::ServeSettings::from_config(&config);
    if let (Some(metrics), Some(addr)) = (routers.metrics, config.metrics_addr) {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr} for metrics: {e}"))?;
        tracing::info!("metrics on http://{addr}/metrics");
        tokio::spawn(server::serve(listener, metrics, settings));
    }
    let served = server::serve(listener, routers.public, settings).await;
    store.close().await;
    served.map_err(|e| e.to_string())
}
