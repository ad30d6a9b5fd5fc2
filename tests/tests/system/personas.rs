//! /v1/personas through the real router and a real database: CRUD scoped to the caller, cursor
//! pages, validation, and avatars uploaded with presigned URLs to moto's S3 on loopback.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use helix_shared::AppState;
use helix_shared::avatars::AvatarStore;
use helix_tests::{
    AVATAR_PNG as PNG, MotoServer, Reply, World, authorised, capture_logs, fake_aws_config,
    json_request, request, send, signed_in_user, state, state_with,
};
use serde_json::{Value, json};
use sqlx::PgPool;

const BUCKET: &str = "helix-avatars-test";

async fn world_from(state: AppState) -> World {
    World::new(state, "persona-owner@example.com").await
}

/// No avatar bucket configured.
async fn world(pool: PgPool) -> World {
    world_from(state(pool)).await
}

/// An avatar store that signs URLs but whose S3 is unreachable: enough for everything that does
/// not talk to S3 (signing is local).
async fn world_with_offline_avatars(pool: PgPool) -> World {
    let mut state = state_with(pool.clone(), &[("HELIX_AVATAR_BUCKET", BUCKET)]);
    let sdk = fake_aws_config(Some("http://127.0.0.1:1")).await;
    state.avatars = AvatarStore::new(&sdk, &state.config.avatars).map(Arc::new);
    world_from(state).await
}

/// Avatars in moto's S3, in a bucket created for the test; returns the S3 client to inspect it.
async fn world_with_moto_avatars(pool: PgPool, moto: &MotoServer) -> (World, aws_sdk_s3::Client) {
    let sdk = moto.sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let mut state = state_with(pool.clone(), &[("HELIX_AVATAR_BUCKET", BUCKET)]);
    state.avatars = AvatarStore::new(&sdk, &state.config.avatars).map(Arc::new);
    (world_from(state).await, s3)
}

/// A GET or DELETE with the caller's token.
fn bare_request(method: &str, path: &str, token: &str) -> Request<Body> {
    authorised(request(method, path), token)
}

async fn create(world: &World, name: &str, prompt: &str) -> Value {
    let reply = send(
        &world.app,
        json_request(
            "POST",
            "/v1/personas",
            &json!({"name": name, "prompt": prompt}),
            &world.token,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

async fn get_persona(world: &World, id: &str, token: &str) -> Reply {
    send(
        &world.app,
        bare_request("GET", &format!("/v1/personas/{id}"), token),
    )
    .await
}

async fn list(world: &World, query: &str, token: &str) -> Reply {
    send(
        &world.app,
        bare_request("GET", &format!("/v1/personas{query}"), token),
    )
    .await
}

async fn request_upload(world: &World, id: &str, body: &Value) -> Reply {
    send(
        &world.app,
        json_request(
            "POST",
            &format!("/v1/personas/{id}/avatar"),
            body,
            &world.token,
        ),
    )
    .await
}

fn png_upload() -> Value {
    json!({"content_type": "image/png", "content_length": PNG.len()})
}

/// Every persona row in the database, as (id, name, prompt, avatar key), oldest first.
async fn stored(pool: &PgPool) -> Vec<(String, String, String, Option<String>)> {
    sqlx::query_as("SELECT id, name, prompt, avatar_url FROM personas ORDER BY created_at, id")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn object_exists(s3: &aws_sdk_s3::Client, key: &str) -> bool {
    s3.head_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .is_ok()
}

/// PUTs `bytes` to a presigned upload with exactly the headers it names.
async fn put_with_returned_headers(upload: &Value, bytes: &[u8]) -> reqwest::StatusCode {
    let mut put = reqwest::Client::new().put(upload["upload_url"].as_str().unwrap());
    for (name, value) in upload["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    put.body(bytes.to_vec()).send().await.unwrap().status()
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_persona_can_be_created_read_updated_and_deleted(pool: PgPool) {
    let world = world(pool.clone()).await;

    let created = create(&world, "  Pirate ", "Talk like a pirate.").await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "Pirate", "stored trimmed");
    assert_eq!(created["prompt"], "Talk like a pirate.");
    assert_eq!(created["avatar_url"], Value::Null);
    assert!(created["created_at"].is_string() && created["updated_at"].is_string());

    let fetched = get_persona(&world, &id, &world.token).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, created);

    let patched = send(
        &world.app,
        json_request(
            "PATCH",
            &format!("/v1/personas/{id}"),
            &json!({"name": "Captain"}),
            &world.token,
        ),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["name"], "Captain");
    assert_eq!(patched.body["prompt"], "Talk like a pirate.", "kept");
    assert_eq!(patched.body["created_at"], created["created_at"]);
    assert_ne!(patched.body["updated_at"], created["updated_at"]);

    let deleted = send(
        &world.app,
        bare_request("DELETE", &format!("/v1/personas/{id}"), &world.token),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(deleted.body, Value::Null, "no body");

    let gone = get_persona(&world, &id, &world.token).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.body["error"]["code"], "not_found");
    assert!(stored(&pool).await.is_empty());
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn pages_of_ten_walk_25_personas_newest_first_without_repeats(pool: PgPool) {
    let world = world(pool).await;
    let mut created = Vec::new();
    for n in 0..25 {
        let persona = create(&world, &format!("Persona {n}"), "Be brief.").await;
        created.push(persona["id"].as_str().unwrap().to_owned());
    }

    let mut seen = Vec::new();
    let mut page_sizes = Vec::new();
    let mut query = "?limit=10".to_owned();
    loop {
        let reply = list(&world, &query, &world.token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let personas = reply.body["personas"].as_array().unwrap();
        page_sizes.push(personas.len());
        seen.extend(
            personas
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned()),
        );
        match reply.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=10&cursor={cursor}"),
            None => break,
        }
    }

    assert_eq!(page_sizes, vec![10, 10, 5]);
    let newest_first: Vec<String> = created.into_iter().rev().collect();
    assert_eq!(seen, newest_first);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 25, "no repeats");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_list_defaults_to_20_and_ends_with_a_null_cursor(pool: PgPool) {
    let world = world(pool).await;
    assert_eq!(
        list(&world, "", &world.token).await.body,
        json!({"personas": [], "next_cursor": null})
    );
    for n in 0..21 {
        create(&world, &format!("Persona {n}"), "Be brief.").await;
    }
    let first = list(&world, "", &world.token).await;
    assert_eq!(first.body["personas"].as_array().unwrap().len(), 20);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let last = list(&world, &format!("?cursor={cursor}"), &world.token).await;
    assert_eq!(last.body["personas"].as_array().unwrap().len(), 1);
    assert_eq!(last.body["next_cursor"], Value::Null);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_malformed_cursor_or_limit_is_a_400_naming_it(pool: PgPool) {
    let world = world(pool).await;
    let cases = [
        ("?cursor=not-a-cursor!", "cursor"),
        ("?cursor=bm90aGluZw", "cursor"), // base64url of "nothing": no separator
        ("?cursor=", "cursor"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=ten", "limit"),
    ];
    for (query, named) in cases {
        let reply = list(&world, query, &world.token).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{query}: {message}");
    }
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn another_users_persona_is_404_everywhere_and_absent_from_their_list(pool: PgPool) {
    let world = world_with_offline_avatars(pool.clone()).await;
    let theirs = create(&world, "Mine", "Owner's prompt.").await;
    let id = theirs["id"].as_str().unwrap();
    let (_, stranger) = signed_in_user(&world.state, "stranger@example.com").await;
    let path = format!("/v1/personas/{id}");

    let attempts = [
        bare_request("GET", &path, &stranger),
        json_request("PATCH", &path, &json!({"name": "Stolen"}), &stranger),
        bare_request("DELETE", &path, &stranger),
        json_request("POST", &format!("{path}/avatar"), &png_upload(), &stranger),
    ];
    for attempt in attempts {
        let label = format!("{} {}", attempt.method(), attempt.uri());
        let reply = send(&world.app, attempt).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{label}");
        assert_eq!(reply.body["error"]["code"], "not_found", "{label}");
        assert!(
            !reply.body.to_string().contains("Owner's prompt"),
            "{label}"
        );
    }

    let their_list = list(&world, "", &stranger).await;
    assert_eq!(their_list.body["personas"], json!([]));
    let rows = stored(&pool).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].1.as_str(), rows[0].3.as_deref()),
        ("Mine", None),
        "unchanged, no avatar key"
    );
    assert_eq!(
        get_persona(&world, id, &world.token).await.status,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn each_bad_field_is_a_400_that_names_it_and_changes_nothing(pool: PgPool) {
    let world = world(pool.clone()).await;
    let existing = create(&world, "Original", "Original prompt.").await;
    let id = existing["id"].as_str().unwrap();
    let before = stored(&pool).await;

    let long_name = "n".repeat(81);
    let long_prompt = "p".repeat(32_001);
    let creates = [
        (json!({"name": "", "prompt": "ok"}), "name"),
        (json!({"name": "   ", "prompt": "ok"}), "name"),
        (json!({"name": long_name, "prompt": "ok"}), "name"),
        (json!({"prompt": "ok"}), "name"),
        (json!({"name": 7, "prompt": "ok"}), "name"),
        (json!({"name": "ok", "prompt": ""}), "prompt"),
        (json!({"name": "ok", "prompt": " \n "}), "prompt"),
        (json!({"name": "ok", "prompt": long_prompt}), "prompt"),
        (
            json!({"name": "ok", "prompt": "ok", "avatar_url": "x"}),
            "avatar_url",
        ),
    ];
    let path = format!("/v1/personas/{id}");
    let patches = [
        (json!({"name": ""}), "name"),
        (json!({"prompt": long_prompt}), "prompt"),
        (json!({"name": "ok", "colour": "red"}), "colour"),
    ];
    let requests = creates
        .iter()
        .map(|(body, named)| {
            (
                json_request("POST", "/v1/personas", body, &world.token),
                *named,
            )
        })
        .chain(
            patches
                .iter()
                .map(|(body, named)| (json_request("PATCH", &path, body, &world.token), *named)),
        );
    for (request, named) in requests {
        let label = format!("{} {named}", request.method());
        let reply = send(&world.app, request).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{label}: {}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{label}: {message}");
    }

    assert_eq!(stored(&pool).await, before);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_patch_without_fields_is_a_400(pool: PgPool) {
    let world = world(pool.clone()).await;
    let existing = create(&world, "Original", "Original prompt.").await;
    let path = format!("/v1/personas/{}", existing["id"].as_str().unwrap());
    let before = stored(&pool).await;

    for body in [json!({}), json!({"name": null, "prompt": null})] {
        let reply = send(
            &world.app,
            json_request("PATCH", &path, &body, &world.token),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("name, prompt"), "{message}");
    }
    assert_eq!(stored(&pool).await, before);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn deleting_a_missing_persona_is_a_404(pool: PgPool) {
    let world = world(pool).await;
    let reply = send(
        &world.app,
        bare_request("DELETE", "/v1/personas/nosuchpersona", &world.token),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn without_a_bucket_the_avatar_route_is_503_and_avatars_are_null(pool: PgPool) {
    let world = world(pool.clone()).await;
    let persona = create(&world, "Pirate", "Arr.").await;
    let id = persona["id"].as_str().unwrap();
    sqlx::query("UPDATE personas SET avatar_url = $1 WHERE id = $2")
        .bind(format!("avatars/{}/{id}/old.png", world.user.id))
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();

    let reply = request_upload(&world, id, &png_upload()).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["error"]["code"], "avatars_not_configured");
    assert_eq!(
        get_persona(&world, id, &world.token).await.body["avatar_url"],
        Value::Null
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn an_avatar_of_another_type_or_size_is_a_400_that_names_the_field(pool: PgPool) {
    let world = world_with_offline_avatars(pool.clone()).await;
    let persona = create(&world, "Pirate", "Arr.").await;
    let id = persona["id"].as_str().unwrap();
    let max = world.state.config.avatars.max_bytes;

    let cases = [
        (
            json!({"content_type": "image/gif", "content_length": 10}),
            "content_type",
        ),
        (
            json!({"content_type": "text/html", "content_length": 10}),
            "content_type",
        ),
        (
            json!({"content_type": "image/png", "content_length": 0}),
            "content_length",
        ),
        (
            json!({"content_type": "image/png", "content_length": max + 1}),
            "content_length",
        ),
        (
            json!({"content_type": "image/png", "content_length": -1}),
            "content_length",
        ),
        (json!({"content_type": "image/png"}), "content_length"),
        (
            json!({"content_type": "image/png", "content_length": 1, "acl": "public-read"}),
            "acl",
        ),
    ];
    for (body, named) in cases {
        let reply = request_upload(&world, id, &body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{body}: {message}");
    }
    assert_eq!(stored(&pool).await[0].3, None, "no avatar key recorded");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn an_avatar_round_trips_through_presigned_urls_to_moto_s3(pool: PgPool) {
    let moto = MotoServer::start().await;
    let (world, s3) = world_with_moto_avatars(pool.clone(), &moto).await;
    let persona = create(&world, "Pirate", "Arr.").await;
    let id = persona["id"].as_str().unwrap();

    let reply = request_upload(&world, id, &png_upload()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let upload = reply.body;
    let key = upload["key"].as_str().unwrap();
    assert!(
        key.starts_with(&format!("avatars/{}/{id}/", world.user.id)) && key.ends_with(".png"),
        "{key}"
    );
    assert_eq!(upload["method"], "PUT");
    assert_eq!(
        upload["headers"],
        json!({"content-type": "image/png", "content-length": PNG.len().to_string()})
    );
    // What makes S3 refuse another type or size: both headers are part of the signature.
    let url = upload["upload_url"].as_str().unwrap();
    assert!(
        url.contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"),
        "{url}"
    );
    let expires_at = chrono::DateTime::parse_from_rfc3339(upload["expires_at"].as_str().unwrap())
        .unwrap()
        .signed_duration_since(chrono::Utc::now());
    assert!((expires_at.num_seconds() - 300).abs() <= 5, "{expires_at}");
    assert_eq!(stored(&pool).await[0].3.as_deref(), Some(key));

    assert_eq!(put_with_returned_headers(&upload, PNG).await, 200);

    let fetched = get_persona(&world, id, &world.token).await;
    let avatar_url = fetched.body["avatar_url"].as_str().unwrap();
    assert!(avatar_url.contains("X-Amz-Signature="), "{avatar_url}");
    assert!(avatar_url.contains("X-Amz-Expires=900"), "{avatar_url}");
    let downloaded = reqwest::get(avatar_url).await.unwrap();
    assert_eq!(downloaded.status(), 200);
    assert_eq!(downloaded.bytes().await.unwrap().as_ref(), PNG);
    assert!(object_exists(&s3, key).await);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_new_avatar_deletes_the_old_object_and_deleting_the_persona_deletes_the_new(
    pool: PgPool,
) {
    let moto = MotoServer::start().await;
    let (world, s3) = world_with_moto_avatars(pool.clone(), &moto).await;
    let persona = create(&world, "Pirate", "Arr.").await;
    let id = persona["id"].as_str().unwrap();

    let first = request_upload(&world, id, &png_upload()).await.body;
    assert_eq!(put_with_returned_headers(&first, PNG).await, 200);
    let first_key = first["key"].as_str().unwrap();
    assert!(object_exists(&s3, first_key).await);

    let webp = json!({"content_type": "image/webp", "content_length": PNG.len()});
    let second = request_upload(&world, id, &webp).await.body;
    let second_key = second["key"].as_str().unwrap();
    assert!(second_key.ends_with(".webp"), "{second_key}");
    assert!(!object_exists(&s3, first_key).await, "old avatar deleted");
    assert_eq!(put_with_returned_headers(&second, PNG).await, 200);

    let deleted = send(
        &world.app,
        bare_request("DELETE", &format!("/v1/personas/{id}"), &world.token),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(
        !object_exists(&s3, second_key).await,
        "avatar deleted with its persona"
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_personality_picker_shows_a_personas_presigned_avatar_url(pool: PgPool) {
    let world = world_with_offline_avatars(pool.clone()).await;
    let persona = create(&world, "Pirate", "Arr.").await;
    let id = persona["id"].as_str().unwrap();
    let key = request_upload(&world, id, &png_upload()).await.body["key"]
        .as_str()
        .unwrap()
        .to_owned();

    let reply = send(
        &world.app,
        bare_request("GET", "/v1/personalities", &world.token),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let personalities = reply.body["personalities"].as_array().unwrap();
    let pirate = personalities.iter().find(|p| p["id"] == id).unwrap();
    let avatar = pirate["avatar"].as_str().unwrap();
    assert!(
        avatar.contains(&format!("/{BUCKET}/{key}?")) && avatar.contains("X-Amz-Signature="),
        "{avatar}"
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_persona_is_deleted_even_when_its_avatar_object_cannot_be(pool: PgPool) {
    let world = world_with_offline_avatars(pool.clone()).await;
    let persona = create(&world, "Pirate", "Arr.").await;
    let id = persona["id"].as_str().unwrap();
    let key = request_upload(&world, id, &png_upload()).await.body["key"]
        .as_str()
        .unwrap()
        .to_owned();

    let (logs, _guard) = capture_logs();
    let reply = send(
        &world.app,
        bare_request("DELETE", &format!("/v1/personas/{id}"), &world.token),
    )
    .await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert!(stored(&pool).await.is_empty());
    let orphaned = logs
        .lines()
        .into_iter()
        .find(|line| line["message"] == "avatar object orphaned")
        .expect("the failed S3 delete is logged");
    assert_eq!(orphaned["level"], "WARN");
    assert_eq!(orphaned["key"], key);
}
