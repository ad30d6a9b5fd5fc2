//! The local gateway: every function's router mounted at its API Gateway path in one server, as
//! API Gateway routes them in AWS. No handler lives here; only `/healthz` is the gateway's own.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::serve::ListenerExt;
use helix_shared::budget::reconcile::{self, Options};
use helix_shared::{ApiError, AppState, db, http};
use serde_json::{Value, json};

/// The whole Helix API in one router.
pub fn app(state: AppState) -> Router {
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .with_state(state.clone())
        .merge(auth_verify::router(state.clone()))
        .merge(turns::router(state.clone()))
        .merge(personas::router(state.clone()))
        .merge(agents::router(state.clone()))
        .merge(conversations::router(state.clone()))
        .merge(budget::router(state.clone()))
        .merge(memory::router(state.clone()));
    http::finish(routes, &state)
}

/// 200 when the database answers, 503 otherwise.
async fn healthz(
    State(state): State<AppState>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    db::ping(&state.db).await?;
    Ok((
        StatusCode::OK,
        axum::Json(json!({ "status": "ok", "database": "ok" })),
    ))
}

/// Serves on `HELIX_HOST:HELIX_PORT` until Ctrl-C / SIGTERM, reconciling budgets on a timer
/// (`HELIX_LOCAL_RECONCILE_EVERY`) as EventBridge does in AWS, so a local hold never leaks.
pub async fn serve(state: AppState) -> std::io::Result<()> {
    let address = SocketAddr::new(state.config.http.host, state.config.http.port);
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(%address, "local gateway listening");
    let reconciling = state.config.reconcile.local_interval.map(|every| {
        let options = Options {
            repair: state.config.reconcile.repair,
            idempotency_retention: state.config.reconcile.idempotency_retention,
        };
        tokio::spawn(reconcile::run_periodically(
            state.db.clone(),
            options,
            every,
        ))
    });
    let served = serve_on(listener, state, shutdown_signal()).await;
    if let Some(task) = reconciling {
        task.abort();
    }
    served
}

/// Serves on a bound listener until `shutdown` completes (tests bind port 0). TCP_NODELAY
/// matters: without it small JSON replies can wait ~40 ms for the client's delayed ACK.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
    });
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM; stop with Ctrl-C");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
