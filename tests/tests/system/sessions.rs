//! Sessions end when they should: signing out, an admin's revocation, and a passcode removed or
//! demoted in the configuration all stop tokens already issued, at once.

use axum::http::StatusCode;
use helix_shared::auth::settings::{DEV_FNBO_PASSCODE, DEV_MASTER_PASSCODE};
use helix_shared::db::seed::seed_demo_data;
use helix_shared::startup::sync_users_with_passcodes;
use helix_tests::{
    Reply, authorised, get_with_token, json_request, post_json_from, send, state, state_with,
};
use serde_json::json;
use sqlx::PgPool;

const HOME: [u8; 4] = [192, 0, 2, 10];

async fn sign_in(app: &axum::Router, passcode: &str) -> Reply {
    let reply = send(
        app,
        post_json_from("/auth/verify", &json!({ "passcode": passcode }), HOME),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
}

fn token_of(reply: &Reply) -> String {
    reply.body["token"].as_str().unwrap().to_owned()
}

async fn sign_out(app: &axum::Router, token: &str) -> Reply {
    let request = axum::http::Request::post("/auth/logout")
        .body(axum::body::Body::empty())
        .unwrap();
    send(app, authorised(request, token)).await
}

/// The status a token gets from a plain `/v1/` read.
async fn status_with(app: &axum::Router, token: &str) -> StatusCode {
    send(app, get_with_token("/v1/agents", token)).await.status
}

async fn grant(app: &axum::Router, admin_token: &str, email: &str) -> Reply {
    let body = json!({ "email": email, "amount_cents": 100, "reason": "test" });
    send(
        app,
        json_request("POST", "/v1/budget/grants", &body, admin_token),
    )
    .await
}

async fn revoke(app: &axum::Router, admin_token: &str, email: &str) -> Reply {
    send(
        app,
        json_request(
            "POST",
            "/v1/admin/revoke-tokens",
            &json!({ "email": email }),
            admin_token,
        ),
    )
    .await
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn signing_out_refuses_that_token_and_leaves_the_users_other_sessions_alone(pool: PgPool) {
    let app = local_gateway::app(state(pool.clone()));
    let laptop = token_of(&sign_in(&app, DEV_FNBO_PASSCODE).await);
    let phone = token_of(&sign_in(&app, DEV_FNBO_PASSCODE).await);

    let signed_out = sign_out(&app, &laptop).await;

    assert_eq!(
        signed_out.status,
        StatusCode::NO_CONTENT,
        "{}",
        signed_out.body
    );
    assert_eq!(status_with(&app, &laptop).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_with(&app, &phone).await, StatusCode::OK);
    let again = sign_out(&app, &laptop).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(again.body["error"]["code"], "invalid_token");
    let without_token = send(
        &app,
        axum::http::Request::post("/auth/logout")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(without_token.status, StatusCode::UNAUTHORIZED);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM revoked_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 1, "one row for the signed-out token");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn an_admin_revokes_every_token_of_a_user_who_can_sign_in_again_at_once(pool: PgPool) {
    let state = state(pool.clone());
    seed_demo_data(&pool, &state.config.auth.passcodes, &state.config.seed)
        .await
        .unwrap();
    let app = local_gateway::app(state);
    let admin = token_of(&sign_in(&app, DEV_MASTER_PASSCODE).await);
    let laptop = token_of(&sign_in(&app, DEV_FNBO_PASSCODE).await);
    let phone = token_of(&sign_in(&app, DEV_FNBO_PASSCODE).await);

    let by_a_user = revoke(&app, &laptop, "master@helix.local").await;
    assert_eq!(by_a_user.status, StatusCode::FORBIDDEN);
    assert_eq!(by_a_user.body["error"]["code"], "admin_only");
    assert_eq!(status_with(&app, &admin).await, StatusCode::OK);

    let revoked = revoke(&app, &admin, "FNBO@helix.local").await;

    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert_eq!(revoked.body["email"], "fnbo@helix.local");
    assert!(revoked.body["tokens_valid_after"].is_string());
    assert_eq!(status_with(&app, &laptop).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_with(&app, &phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status_with(&app, &admin).await,
        StatusCode::OK,
        "only that user"
    );
    // Within the same second as the revocation, a fresh sign-in still gives a working token.
    let fresh = token_of(&sign_in(&app, DEV_FNBO_PASSCODE).await);
    assert_eq!(status_with(&app, &fresh).await, StatusCode::OK);

    let unknown = revoke(&app, &admin, "nobody@helix.local").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let malformed = revoke(&app, &admin, "not an email").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
}

/// `HELIX_PASSCODES` with one entry for ops@example.com (passcode `ops-passcode`) as `role`.
fn ops_passcode(role: &str) -> String {
    let hash = helix_shared::auth::passcode::hash_passcode("ops-passcode", 4).unwrap();
    json!([{ "email": "ops@example.com", "hash": hash, "role": role }]).to_string()
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_demoted_or_removed_passcode_takes_effect_at_start_for_tokens_already_out(pool: PgPool) {
    let as_admin = state_with(pool.clone(), &[("HELIX_PASSCODES", &ops_passcode("admin"))]);
    sync_users_with_passcodes(&as_admin).await.unwrap();
    let app = local_gateway::app(as_admin);
    let ops = token_of(&sign_in(&app, "ops-passcode").await);
    let fnbo = token_of(&sign_in(&app, DEV_FNBO_PASSCODE).await);
    assert_eq!(
        grant(&app, &ops, "fnbo@helix.local").await.status,
        StatusCode::CREATED
    );

    // The configuration changes and a function starts: ops is a plain user now.
    let demoted = state_with(pool.clone(), &[("HELIX_PASSCODES", &ops_passcode("user"))]);
    sync_users_with_passcodes(&demoted).await.unwrap();
    let still_running = app;
    let refused = grant(&still_running, &ops, "fnbo@helix.local").await;
    assert_eq!(
        refused.status,
        StatusCode::FORBIDDEN,
        "an instance started before the change reads the role from the database: {}",
        refused.body
    );
    assert_eq!(status_with(&still_running, &ops).await, StatusCode::OK);

    // The passcode is removed: the tokens it gave stop working; other users' do not.
    let removed = state(pool.clone());
    sync_users_with_passcodes(&removed).await.unwrap();
    assert_eq!(
        status_with(&still_running, &ops).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status_with(&still_running, &fnbo).await, StatusCode::OK);
    let role: String = sqlx::query_scalar("SELECT role::text FROM users WHERE email = $1")
        .bind("ops@example.com")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(role, "user");
}
