//! `make dev`'s local S3 (`scripts/dev-s3`): avatars work end to end through the API with the same
//! presigned URLs as in AWS, a browser on the web app's origin may PUT to them, and stopping the
//! script stops everything it started.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use helix_shared::avatars::AvatarStore;
use helix_tests::{
    AVATAR_PNG as PNG, World, fake_aws_config, get_with_token, json_request, send, state_with,
};
use serde_json::json;
use sqlx::PgPool;

const WEB_ORIGIN: &str = "http://localhost:5173";

/// `scripts/dev-s3` as `make dev` runs it; sent TERM (as Ctrl-C would) when dropped.
struct DevS3 {
    child: Child,
    endpoint: String,
}

impl DevS3 {
    fn start() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/dev-s3");
        let mut child = Command::new(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver
            .recv_timeout(Duration::from_secs(120))
            .expect("scripts/dev-s3 printed its endpoint");
        let endpoint = line
            .trim()
            .strip_prefix("HELIX_AVATAR_ENDPOINT=")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        DevS3 { child, endpoint }
    }

    /// TERM, then the script's exit: what Ctrl-C on `make dev` amounts to.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for DevS3 {
    fn drop(&mut self) {
        self.stop();
    }
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn make_devs_local_s3_takes_avatar_uploads_from_the_web_app_and_stops_with_its_script(
    pool: PgPool,
) {
    let mut s3 = DevS3::start();
    let settings = [
        ("HELIX_AVATAR_BUCKET", "helix-dev-avatars"),
        ("HELIX_AVATAR_ENDPOINT", s3.endpoint.as_str()),
    ];
    let mut state = state_with(pool, &settings);
    // As at cold start: the AWS configuration names no endpoint; only the avatar bucket's is local.
    let sdk = fake_aws_config(None).await;
    state.avatars = AvatarStore::new(&sdk, &state.config.avatars).map(Arc::new);
    let world = World::new(state, "newcomer@example.com").await;
    let persona = send(
        &world.app,
        json_request(
            "POST",
            "/v1/personas",
            &json!({"name": "Hook", "prompt": "Talk like a pirate."}),
            &world.token,
        ),
    )
    .await;
    let id = persona.body["id"].as_str().unwrap();

    let upload = send(
        &world.app,
        json_request(
            "POST",
            &format!("/v1/personas/{id}/avatar"),
            &json!({"content_type": "image/png", "content_length": PNG.len()}),
            &world.token,
        ),
    )
    .await;
    assert_eq!(upload.status, StatusCode::OK, "{}", upload.body);
    let url = upload.body["upload_url"].as_str().unwrap();
    assert!(url.starts_with(&s3.endpoint), "{url}");
    assert!(url.contains("X-Amz-Signature="), "a presigned URL: {url}");

    let client = reqwest::Client::new();
    let preflight = client
        .request(reqwest::Method::OPTIONS, url)
        .header("origin", WEB_ORIGIN)
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        WEB_ORIGIN
    );
    let put = client
        .put(url)
        .header("origin", WEB_ORIGIN)
        .header("content-type", "image/png")
        .body(PNG.to_vec())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());

    let shown = send(
        &world.app,
        get_with_token(&format!("/v1/personas/{id}"), &world.token),
    )
    .await;
    let avatar_url = shown.body["avatar_url"].as_str().unwrap();
    assert!(avatar_url.starts_with(&s3.endpoint), "{avatar_url}");
    let downloaded = reqwest::get(avatar_url).await.unwrap();
    assert!(downloaded.status().is_success());
    assert_eq!(downloaded.bytes().await.unwrap().as_ref(), PNG);

    let port = s3.endpoint.rsplit(':').next().unwrap().to_owned();
    s3.stop();
    let still_there = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await;
    assert!(still_there.is_err(), "moto stopped with the script");
}
