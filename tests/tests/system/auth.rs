//! Sign-in with a passcode, brute-force throttling (per-source back-off, a global ceiling), and
//! the token guard on every /v1 route.

use std::time::Duration;

use axum::http::StatusCode;
use helix_shared::auth::settings::{DEV_FNBO_PASSCODE, DEV_MASTER_PASSCODE};
use helix_shared::db::seed::seed_demo_data;
use helix_tests::{
    Reply, config_with, get, get_with_token, post_json_from, request, send, state, state_with,
    state_without_database,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sqlx::PgPool;

const HOME: [u8; 4] = [192, 0, 2, 10];
const ELSEWHERE: [u8; 4] = [198, 51, 100, 7];

async fn sign_in(app: &axum::Router, passcode: &str, from: [u8; 4]) -> Reply {
    send(
        app,
        post_json_from("/auth/verify", &json!({ "passcode": passcode }), from),
    )
    .await
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_right_passcode_returns_a_bearer_token_that_opens_v1_routes(pool: PgPool) {
    let state = state(pool.clone());
    seed_demo_data(&pool, &state.config.auth.passcodes, &state.config.seed)
        .await
        .unwrap();
    let app = local_gateway::app(state);

    let reply = sign_in(&app, DEV_MASTER_PASSCODE, HOME).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["user"]["email"], "master@helix.local");
    assert_eq!(reply.body["user"]["role"], "admin");
    assert_eq!(reply.body["user"]["budget_cents"], 1000);
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(reply.body["expires_at"].as_str().unwrap()).unwrap();
    let lifetime = expires_at.signed_duration_since(chrono::Utc::now());
    assert!(
        (lifetime.num_minutes() - 360).abs() <= 1,
        "6h lifetime, got {lifetime}"
    );

    let token = reply.body["token"].as_str().unwrap();
    let authorised = send(&app, get_with_token("/v1/personas", token)).await;
    assert_ne!(
        authorised.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        authorised.body
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn each_passcode_signs_in_as_its_own_user_created_on_first_sign_in(pool: PgPool) {
    let app = local_gateway::app(state(pool.clone()));
    let fnbo = sign_in(&app, DEV_FNBO_PASSCODE, HOME).await;
    assert_eq!(fnbo.status, StatusCode::OK);
    assert_eq!(fnbo.body["user"]["email"], "fnbo@helix.local");
    assert_eq!(fnbo.body["user"]["role"], "user");
    assert_eq!(
        fnbo.body["user"]["budget_cents"], 0,
        "no budget until one is granted"
    );
    let again = sign_in(&app, DEV_FNBO_PASSCODE, HOME).await;
    assert_eq!(again.body["user"]["id"], fnbo.body["user"]["id"]);
    assert_eq!(count(&pool, "users").await, 1);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_wrong_passcode_is_401_invalid_passcode(pool: PgPool) {
    let app = local_gateway::app(state(pool));
    let reply = sign_in(&app, "not-the-passcode", HOME).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.body["error"]["code"], "invalid_passcode");
    assert!(reply.body.get("token").is_none());
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn malformed_bodies_are_400s_naming_the_field_and_change_nothing(pool: PgPool) {
    let app = local_gateway::app(state(pool.clone()));
    let cases = [
        (json!({}), "passcode"),
        (json!({ "passcode": 5 }), "passcode"),
        (json!({ "passcode": "" }), "passcode"),
        (json!({ "passcode": "x".repeat(73) }), "72 bytes"),
        (
            json!({ "passcode": DEV_MASTER_PASSCODE, "remember": true }),
            "remember",
        ),
        (json!("passcode"), "expected struct"),
    ];
    for (body, named) in cases {
        let reply = send(&app, post_json_from("/auth/verify", &body, HOME)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{body}: {message}");
    }
    assert_eq!(
        count(&pool, "auth_failures").await,
        0,
        "bad input is not an attempt"
    );
    assert_eq!(count(&pool, "users").await, 0);
}

fn retry_after(reply: &Reply) -> u64 {
    let header: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(reply.body["error"]["retry_after_secs"], header);
    header
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_passcode_longer_than_bcrypt_reads_is_refused_not_cut(pool: PgPool) {
    // bcrypt compares 72 bytes: without the check, anything starting with this passcode signs in.
    let passcode = "correct horse battery staple ".repeat(3)[..72].to_owned();
    let hash = helix_shared::auth::passcode::hash_passcode(&passcode, 4).unwrap();
    let entries = json!([{ "email": "long@example.com", "hash": hash }]).to_string();
    let app = local_gateway::app(state_with(pool.clone(), &[("HELIX_PASSCODES", &entries)]));

    let exact = sign_in(&app, &passcode, HOME).await;
    let longer = sign_in(&app, &format!("{passcode} and more"), HOME).await;

    assert_eq!(exact.status, StatusCode::OK, "{}", exact.body);
    assert_eq!(longer.status, StatusCode::BAD_REQUEST);
    assert_eq!(longer.body["error"]["code"], "passcode_too_long");
    let message = longer.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("at most 72 bytes"), "{message}");
    assert_eq!(count(&pool, "auth_failures").await, 0, "not an attempt");
    assert!(helix_shared::auth::passcode::hash_passcode(&format!("{passcode}!"), 4).is_err());
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_few_typos_cost_seconds_and_each_further_failure_doubles_the_wait(pool: PgPool) {
    let settings = [
        ("HELIX_AUTH_FREE_FAILURES", "3"),
        ("HELIX_AUTH_BACKOFF_BASE", "1s"),
    ];
    let app = local_gateway::app(state_with(pool.clone(), &settings));
    for _ in 0..3 {
        assert_eq!(
            sign_in(&app, "guess", HOME).await.status,
            StatusCode::UNAUTHORIZED
        );
    }

    let slowed = sign_in(&app, DEV_MASTER_PASSCODE, HOME).await;
    assert_eq!(
        slowed.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        slowed.body
    );
    assert_eq!(slowed.body["error"]["code"], "too_many_attempts");
    assert_eq!(retry_after(&slowed), 1, "seconds, not minutes");
    let impatient = sign_in(&app, DEV_MASTER_PASSCODE, HOME).await;
    assert_eq!(
        retry_after(&impatient),
        1,
        "retrying while slowed down costs no extra wait"
    );
    assert_eq!(
        count(&pool, "auth_failures").await,
        3,
        "refused attempts are not failures"
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        sign_in(&app, "another typo", HOME).await.status,
        StatusCode::UNAUTHORIZED
    );
    let doubled = sign_in(&app, DEV_MASTER_PASSCODE, HOME).await;
    assert_eq!(doubled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&doubled), 2);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let right = sign_in(&app, DEV_MASTER_PASSCODE, HOME).await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.body);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_wrong_passcode_storm_from_one_address_never_blocks_the_right_passcode_from_another(
    pool: PgPool,
) {
    // The defaults: 5 free failures, then 1 s doubling up to 5 minutes, a 100-failure ceiling.
    let app = local_gateway::app(state(pool.clone()));
    let storm = (0..40).map(|_| sign_in(&app, "guess", HOME));
    let answers = futures_util::future::join_all(storm).await;
    let failed = answers
        .iter()
        .filter(|reply| reply.status == StatusCode::UNAUTHORIZED)
        .count();
    assert!(
        failed <= 5,
        "at most the free failures are checked, even all at once (attempts still being checked \
         count against each other): {failed}"
    );
    assert!(answers.iter().all(|reply| {
        [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(&reply.status)
    }));
    // The storm goes on until the address is slowed down (at most the free failures left).
    for _ in failed..=5 {
        if sign_in(&app, "guess", HOME).await.status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }

    let stormer = sign_in(&app, DEV_MASTER_PASSCODE, HOME).await;
    let neighbour = sign_in(&app, DEV_MASTER_PASSCODE, ELSEWHERE).await;

    assert_eq!(
        stormer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the storming address waits"
    );
    assert!(retry_after(&stormer) <= 2, "a few seconds");
    assert_eq!(neighbour.status, StatusCode::OK, "{}", neighbour.body);
}

/// A sign-in from an IPv6 address, as the local gateway's socket would report it.
async fn sign_in_from_v6(app: &axum::Router, passcode: &str, from: &str) -> Reply {
    let mut request = post_json_from("/auth/verify", &json!({ "passcode": passcode }), HOME);
    let address = std::net::SocketAddr::new(from.parse().unwrap(), 40000);
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(address));
    send(app, request).await
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn ipv6_addresses_of_one_64_share_one_allowance(pool: PgPool) {
    let app = local_gateway::app(state_with(pool, &[("HELIX_AUTH_FREE_FAILURES", "2")]));
    for host in ["2001:db8:1:2::1", "2001:db8:1:2:ffff::99"] {
        let reply = sign_in_from_v6(&app, "guess", host).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let same_64 = sign_in_from_v6(&app, DEV_MASTER_PASSCODE, "2001:db8:1:2::abcd").await;
    let next_64 = sign_in_from_v6(&app, DEV_MASTER_PASSCODE, "2001:db8:1:3::1").await;
    assert_eq!(
        same_64.status,
        StatusCode::TOO_MANY_REQUESTS,
        "a new address in the same /64 is the same source"
    );
    assert_eq!(next_64.status, StatusCode::OK);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn distributed_guessing_meets_a_global_ceiling_that_spares_sources_that_signed_in_before(
    pool: PgPool,
) {
    // One source can fail at most 1 + (1 + 2 + 2 + …) ≈ 7 times a minute here, under the ceiling.
    let settings = [
        ("HELIX_AUTH_FREE_FAILURES", "1"),
        ("HELIX_AUTH_BACKOFF_MAX", "10s"),
        ("HELIX_AUTH_FAILURE_WINDOW", "1m"),
        ("HELIX_AUTH_GLOBAL_MAX_FAILURES", "10"),
    ];
    let app = local_gateway::app(state_with(pool, &settings));
    let office = [192, 0, 2, 200];
    assert_eq!(
        sign_in(&app, DEV_FNBO_PASSCODE, office).await.status,
        StatusCode::OK
    );
    for bot in 1..=10u8 {
        let reply = sign_in(&app, "guess", [198, 18, 0, bot]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "bot {bot}");
    }

    let newcomer = sign_in(&app, DEV_MASTER_PASSCODE, [198, 51, 100, 99]).await;
    let known = sign_in(&app, DEV_MASTER_PASSCODE, office).await;

    assert_eq!(newcomer.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        (1..=60).contains(&retry_after(&newcomer)),
        "until the oldest failures leave the window"
    );
    assert_eq!(known.status, StatusCode::OK, "{}", known.body);
}

#[test]
fn a_global_ceiling_one_address_could_reach_is_refused_at_start() {
    let sources = helix_shared::settings::Sources::from_pairs(&[
        ("HELIX_AUTH_GLOBAL_MAX_FAILURES", "20"),
        ("DATABASE_URL", "postgres://unused@127.0.0.1:1/unused"),
    ]);
    let error = helix_shared::config::Config::from_sources(&sources).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("HELIX_AUTH_GLOBAL_MAX_FAILURES") && message.contains("24"),
        "{message}"
    );
}

const EDGE_SECRET: &str = "edge-secret-for-tests-0123456789abcdef";
/// CloudFront's address, as API Gateway (here: the socket) sees every request through it.
const EDGE: [u8; 4] = [203, 0, 113, 1];

/// A sign-in through CloudFront: the edge secret, the viewer's IP, from the edge's address.
async fn sign_in_through_edge(app: &axum::Router, secret: &str, viewer: &str) -> Reply {
    let mut request = post_json_from("/auth/verify", &json!({ "passcode": "guess" }), EDGE);
    let headers = request.headers_mut();
    headers.insert("x-helix-edge-secret", secret.parse().unwrap());
    headers.insert("x-helix-viewer-ip", viewer.parse().unwrap());
    send(app, request).await
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn behind_cloudfront_failures_count_per_viewer_and_a_forged_viewer_ip_counts_for_nothing(
    pool: PgPool,
) {
    let settings = [
        ("HELIX_AUTH_FREE_FAILURES", "2"),
        ("HELIX_EDGE_SECRET", EDGE_SECRET),
    ];
    let app = local_gateway::app(state_with(pool, &settings));

    for _ in 0..2 {
        let reply = sign_in_through_edge(&app, EDGE_SECRET, "192.0.2.44").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let locked = sign_in_through_edge(&app, EDGE_SECRET, "192.0.2.44").await;
    let neighbour = sign_in_through_edge(&app, EDGE_SECRET, "2001:db8::7").await;
    // Without the secret the header is the caller's claim: the edge's own address counts.
    let forged = sign_in_through_edge(&app, "not-the-secret", "192.0.2.99").await;
    let forged_again = sign_in_through_edge(&app, "not-the-secret", "192.0.2.98").await;
    let forged_third = sign_in_through_edge(&app, "not-the-secret", "192.0.2.97").await;

    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the viewer is locked out"
    );
    assert_eq!(
        neighbour.status,
        StatusCode::UNAUTHORIZED,
        "another viewer behind the same edge is not"
    );
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(forged_again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        forged_third.status,
        StatusCode::TOO_MANY_REQUESTS,
        "forged viewer IPs share the edge address's bucket"
    );
}

#[test]
fn a_short_edge_secret_is_a_configuration_error() {
    let sources = helix_shared::settings::Sources::from_pairs(&[
        ("HELIX_EDGE_SECRET", "short"),
        ("DATABASE_URL", "postgres://unused@127.0.0.1:1/unused"),
    ]);
    let error = helix_shared::config::Config::from_sources(&sources).unwrap_err();
    assert!(error.to_string().contains("HELIX_EDGE_SECRET"), "{error}");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn failures_older_than_the_window_are_pruned(pool: PgPool) {
    let app = local_gateway::app(state_with(
        pool.clone(),
        &[("HELIX_AUTH_FAILURE_WINDOW", "1s")],
    ));
    sign_in(&app, "guess", HOME).await;
    sign_in(&app, "guess", ELSEWHERE).await;
    assert_eq!(count(&pool, "auth_failures").await, 2);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sign_in(&app, "guess", HOME).await;
    assert_eq!(
        count(&pool, "auth_failures").await,
        1,
        "only the fresh failure is left"
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_right_passcode_does_not_count_as_a_failure(pool: PgPool) {
    let app = local_gateway::app(state_with(
        pool.clone(),
        &[("HELIX_AUTH_FREE_FAILURES", "1")],
    ));
    for _ in 0..3 {
        assert_eq!(
            sign_in(&app, DEV_MASTER_PASSCODE, HOME).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(count(&pool, "auth_failures").await, 0);
}

fn claims(overrides: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "sub": "placeholder", "iat": now, "nbf": now, "exp": now + 600,
        "iss": "helix", "aud": "helix-api", "jti": "test"
    });
    for (key, value) in overrides.as_object().unwrap() {
        claims[key] = value.clone();
    }
    claims
}

fn sign(claims: &Value, algorithm: Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn every_kind_of_bad_token_is_401_invalid_token(pool: PgPool) {
    let state = state(pool);
    let app = local_gateway::app(state.clone());
    let user_id = sign_in(&app, DEV_MASTER_PASSCODE, HOME).await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = helix_shared::auth::settings::DEV_JWT_SECRET;
    let for_user = |overrides: Value| {
        let mut claims = claims(overrides);
        claims["sub"] = json!(user_id);
        claims
    };
    let now = chrono::Utc::now().timestamp();
    let alg_none = {
        use base64::Engine;
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(for_user(json!({})).to_string().as_bytes())
        )
    };
    let expired = state.tokens.issue(&user_id, now - 7 * 3600).unwrap().token;
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        (
            "wrong scheme",
            Some(format!(
                "Basic {}",
                sign(&for_user(json!({})), Algorithm::HS256, secret)
            )),
        ),
        ("garbage", Some("Bearer not.a.jwt".into())),
        (
            "bad signature",
            Some(format!(
                "Bearer {}",
                sign(
                    &for_user(json!({})),
                    Algorithm::HS256,
                    "another-secret-that-is-long-enough"
                )
            )),
        ),
        ("alg none", Some(format!("Bearer {alg_none}"))),
        (
            "another algorithm",
            Some(format!(
                "Bearer {}",
                sign(&for_user(json!({})), Algorithm::HS384, secret)
            )),
        ),
        ("expired", Some(format!("Bearer {expired}"))),
        (
            "wrong issuer",
            Some(format!(
                "Bearer {}",
                sign(&for_user(json!({"iss": "evil"})), Algorithm::HS256, secret)
            )),
        ),
        (
            "wrong audience",
            Some(format!(
                "Bearer {}",
                sign(&for_user(json!({"aud": "other"})), Algorithm::HS256, secret)
            )),
        ),
        (
            "unknown user",
            Some(format!(
                "Bearer {}",
                sign(&claims(json!({"sub": "nobody"})), Algorithm::HS256, secret)
            )),
        ),
    ];
    for (case, authorization) in cases {
        let mut request = get("/v1/agents");
        if let Some(value) = authorization {
            request
                .headers_mut()
                .insert("authorization", value.parse().unwrap());
        }
        let reply = send(&app, request).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(reply.body["error"]["code"], "invalid_token", "{case}");
        assert_eq!(
            reply.headers["www-authenticate"], r#"Bearer error="invalid_token""#,
            "{case}"
        );
    }
    let valid = state.tokens.issue(&user_id, now).unwrap().token;
    assert_ne!(
        send(&app, get_with_token("/v1/agents", &valid))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_token_stops_working_when_its_user_is_deleted(pool: PgPool) {
    let app = local_gateway::app(state(pool.clone()));
    let signed_in = sign_in(&app, DEV_MASTER_PASSCODE, HOME).await;
    let token = signed_in.body["token"].as_str().unwrap();
    sqlx::query("DELETE FROM users")
        .execute(&pool)
        .await
        .unwrap();
    let reply = send(&app, get_with_token("/v1/budget", token)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn no_v1_route_can_be_reached_without_a_token() {
    let app = local_gateway::app(state_without_database());
    let unregistered = [("GET", "/v1/anything"), ("POST", "/v1/turns/extra")];
    for (method, path) in helix_tests::V1_ROUTES.iter().copied().chain(unregistered) {
        let reply = send(&app, request(method, path)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        // The OpenAI-compatible routes name it as OpenAI does.
        let code = if helix_shared::http::OPENAI_COMPATIBLE_PATHS.contains(&path) {
            "invalid_api_key"
        } else {
            "invalid_token"
        };
        assert_eq!(reply.body["error"]["code"], code, "{method} {path}");
    }
}

#[tokio::test]
async fn sign_in_and_health_need_no_token() {
    let config = config_with(&[]);
    assert!(!config.auth.passcodes.is_empty());
    let app = local_gateway::app(state_without_database());
    assert_ne!(
        send(&app, get("/healthz")).await.status,
        StatusCode::UNAUTHORIZED
    );
}
