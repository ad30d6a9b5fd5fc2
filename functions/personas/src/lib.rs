//! `personas`: the caller's own system-prompt presets (/v1/personas), with avatars uploaded
//! straight to S3 through presigned URLs. Another user's persona is a 404, never a 403.

pub mod api;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use helix_shared::auth::AuthUser;
use helix_shared::avatars::{self, Upload};
use helix_shared::db::personas::{self, PersonaRow};
use helix_shared::http::{ApiJson, ApiPath, ApiQuery};
use helix_shared::pagination::{self, Cursor};
use helix_shared::{ApiError, AppState, http};

use crate::api::{
    AvatarUploadRequest, CreatePersona, ListQuery, PersonaPage, PersonaView, UpdatePersona,
};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/personas", get(list_personas).post(create_persona))
        .route(
            "/v1/personas/{id}",
            get(get_persona)
                .patch(update_persona)
                .delete(delete_persona),
        )
        .route("/v1/personas/{id}/avatar", post(request_avatar_upload))
        .with_state(state)
}

/// The deployable application: the router plus Helix's auth guard, tracing, limits and errors.
pub fn app(state: AppState) -> Router {
    http::finish(router(state.clone()), &state)
}

async fn list_personas(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<PersonaPage>, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let after = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    // One row more than asked for tells whether another page exists.
    let rows = personas::list_page_for_user(&state.db, &user.id, after.as_ref(), limit + 1).await?;
    let (rows, next_cursor) = pagination::page(rows, limit, PersonaRow::cursor);
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        views.push(persona_view(&state, &user, row).await);
    }
    Ok(Json(PersonaPage {
        personas: views,
        next_cursor,
    }))
}

async fn create_persona(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<CreatePersona>,
) -> Result<(StatusCode, Json<PersonaView>), ApiError> {
    let (name, prompt) = request.validate()?;
    let max = state.config.personas.max_per_user;
    let row = personas::create(
        &state.db,
        &user.id,
        name,
        prompt,
        request.memory.as_ref(),
        max,
    )
    .await?
    .ok_or_else(|| ApiError::Conflict {
        code: "persona_limit_reached",
        message: format!("you have {max} personas, the most allowed: delete one to add another"),
    })?;
    tracing::info!(persona_id = %row.id, "persona created");
    Ok((StatusCode::CREATED, Json(PersonaView::new(row, None))))
}

async fn get_persona(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PersonaView>, ApiError> {
    let row = personas::find_for_user(&state.db, &user.id, &id)
        .await?
        .ok_or_else(persona_not_found)?;
    Ok(Json(persona_view(&state, &user, row).await))
}

async fn update_persona(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpdatePersona>,
) -> Result<Json<PersonaView>, ApiError> {
    let (name, prompt) = request.validate()?;
    let row = personas::update(
        &state.db,
        &user.id,
        &id,
        name,
        prompt,
        request.memory.as_ref(),
    )
    .await?
    .ok_or_else(persona_not_found)?;
    tracing::info!(persona_id = %row.id, "persona updated");
    Ok(Json(persona_view(&state, &user, row).await))
}

async fn delete_persona(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let row = personas::delete(&state.db, &user.id, &id)
        .await?
        .ok_or_else(persona_not_found)?;
    tracing::info!(persona_id = %row.id, "persona deleted");
    if let Some(key) = &row.avatar_key {
        discard_avatar(&state, &user, key).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a presigned PUT for a new avatar and points the persona at its key right away; the
/// previous avatar object is deleted (best effort).
async fn request_avatar_upload(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<AvatarUploadRequest>,
) -> Result<Json<Upload>, ApiError> {
    let store = state
        .avatars
        .as_deref()
        .ok_or_else(avatars_not_configured)?;
    // Signing is local work, so it goes first: bad input then writes nothing, and the URL only
    // leaves once the update below proves the persona is the caller's.
    let upload = store
        .presign_upload(&user.id, &id, &request.content_type, request.content_length)
        .await?;
    let replaced = personas::replace_avatar_key(&state.db, &user.id, &id, &upload.key)
        .await?
        .ok_or_else(persona_not_found)?;
    tracing::info!(persona_id = %id, key = %upload.key, "avatar upload issued");
    if let Some(previous) = &replaced.previous_key {
        store.discard(&user.id, previous).await;
    }
    Ok(Json(upload))
}

async fn persona_view(state: &AppState, user: &AuthUser, row: PersonaRow) -> PersonaView {
    let avatar_url = avatars::avatar_url(
        state.avatars.as_deref(),
        &user.id,
        row.avatar_key.as_deref(),
    )
    .await;
    PersonaView::new(row, avatar_url)
}

async fn discard_avatar(state: &AppState, user: &AuthUser, key: &str) {
    match state.avatars.as_deref() {
        Some(store) => store.discard(&user.id, key).await,
        None => tracing::warn!(%key, "avatars are not configured; avatar object left in place"),
    }
}

fn persona_not_found() -> ApiError {
    ApiError::NotFound {
        resource: "persona",
    }
}

fn avatars_not_configured() -> ApiError {
    ApiError::Unavailable {
        code: "avatars_not_configured",
        message: "avatar uploads are not configured on this server".into(),
    }
}
