//! The local gateway over real TCP, as `make dev` runs it: sign in, then call a /v1 route.

use helix_shared::auth::settings::DEV_MASTER_PASSCODE;
use helix_tests::state;
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn verify_then_call_a_v1_route_through_the_running_gateway(pool: PgPool) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(local_gateway::serve_on(listener, state(pool), async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();

    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let signed_in = http
        .post(format!("{base}/auth/verify"))
        .json(&json!({ "passcode": DEV_MASTER_PASSCODE }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let token = signed_in.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let without_token = http.get(format!("{base}/v1/agents")).send().await.unwrap();
    assert_eq!(without_token.status(), 401);
    let with_token = http
        .get(format!("{base}/v1/agents"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_ne!(with_token.status(), 401);
    assert!(with_token.headers().contains_key("x-trace-id"));

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
