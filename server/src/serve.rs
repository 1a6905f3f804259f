//! The accept loop: connections in, requests to the router, and a graceful stop on a signal.

use axum::Router;
use tokio::net::TcpListener;

use crate::config::Config;

/// How the server treats connections.
#[derive(Clone, Copy, Debug)]
pub struct ServeSettings {
    /// How long a client may take to send a request's headers (slow-header clients).
    pub header_timeout: std::time::Duration,
    /// After the stop signal, how long requests in flight may take to finish.
    pub grace: std::time::Duration,
}

impl ServeSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            header_timeout: config.header_timeout,
            grace: config.shutdown_grace,
        }
    }
}

/// Serves until the process receives Ctrl-C or SIGTERM, then stops accepting and gives the
/// requests in flight up to `grace` to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ServeSettings,
) -> std::io::Result<()> {
    let grace = settings.grace;
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout);
    // HTTP/2: a peer that stops answering pings is dropped, and one connection opens a bounded
    // number of streams with bounded headers.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(std::time::Duration::from_secs(20)))
        .keep_alive_timeout(std::time::Duration::from_secs(10))
        .max_concurrent_streams(64)
        .max_header_list_size(16 * 1024);
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!("accepting a connection: {err}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let service = tower_http::add_extension::AddExtension::new(
            router.clone(),
            axum::extract::ConnectInfo(peer),
        );
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("every request finished; stopped"),
        _ = tokio::time::sleep(grace) => {
            tracing::warn!(?grace, "stopping with requests still in flight after the grace period");
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            sig.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
