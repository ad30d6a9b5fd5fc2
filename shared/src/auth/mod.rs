//! Who is calling: passcodes (bcrypt) exchanged for JWTs, brute-force throttling, and the
//! `AuthUser` guard that every `/v1/*` request passes through.

pub mod api_keys;
pub mod backoff;
pub mod jwt;
pub mod passcode;
pub mod settings;
pub mod throttle;

use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::db::{api_keys as key_rows, users};
use crate::user::{ApiKeyRef, UserRole};
use crate::{ApiError, AppState};

/// The signed-in caller, loaded from the database on each request (a deleted user is refused,
/// and the role is the database's, not the token's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: UserRole,
    /// The token this request came with, so it can be signed out (empty for an API key).
    pub token: PresentedToken,
    /// The personal API key this request came with instead of a JWT.
    pub api_key: Option<ApiKeyRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedToken {
    pub jti: String,
    /// The last Unix second the token would be accepted in (its expiry plus the clock leeway).
    pub usable_until: i64,
}

impl AuthUser {
    /// `403 admin_only` unless the caller is an admin; `action` completes "only an admin may …".
    /// `403 session_required` for a request made with an API key: what only a signed-in person
    /// may do (manage keys), so a leaked key cannot mint more keys or lift its own limit.
    pub fn require_session(&self, action: &str) -> Result<(), ApiError> {
        if self.api_key.is_none() {
            return Ok(());
        }
        Err(ApiError::Forbidden {
            code: "session_required",
            message: format!("an API key may not {action}; sign in with a passcode"),
        })
    }

    pub fn require_admin(&self, action: &str) -> Result<(), ApiError> {
        if self.role == UserRole::Admin {
            return Ok(());
        }
        Err(ApiError::Forbidden {
            code: "admin_only",
            message: format!("only an admin may {action}"),
        })
    }
}

/// Only paths under this prefix need a token; `finish` guards all of them, routed or not.
pub const PROTECTED_PREFIX: &str = "/v1/";

/// Verifies the bearer token (a JWT, or a personal API key `hx_…`) and loads its user, in one
/// query that also tells whether the token was revoked. Every failure is the same 401
/// `invalid_token`.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<AuthUser, ApiError> {
    let token = bearer_token(headers).ok_or(ApiError::InvalidToken)?;
    if api_keys::is_api_key(token) {
        return authenticate_key(state, token).await;
    }
    let claims = state.tokens.verify(token, now_unix()).map_err(|error| {
        tracing::info!(reason = %error, "token refused");
        ApiError::InvalidToken
    })?;
    let refuse = |reason: &'static str| {
        tracing::info!(user_id = %claims.sub, reason, "token refused");
        ApiError::InvalidToken
    };
    let holder = users::find_token_holder(&state.db, &claims.sub, &claims.jti)
        .await?
        .ok_or_else(|| refuse("its user no longer exists"))?;
    if holder.token_revoked {
        return Err(refuse("it was signed out"));
    }
    if holder
        .user
        .tokens_valid_after
        .is_some_and(|after| claims.iat < after)
    {
        return Err(refuse("its user's tokens were revoked"));
    }
    let user = holder.user;
    Ok(AuthUser {
        id: user.id,
        email: user.email,
        name: user.name,
        role: user.role,
        token: PresentedToken {
            usable_until: claims.exp + jwt::LEEWAY_SECS,
            jti: claims.jti,
        },
        api_key: None,
    })
}

async fn authenticate_key(state: &AppState, secret: &str) -> Result<AuthUser, ApiError> {
    let holder = key_rows::find_holder(&state.db, &api_keys::sha256_hex(secret))
        .await?
        .ok_or_else(|| {
            tracing::info!(reason = "no such key", "API key refused");
            ApiError::InvalidToken
        })?;
    let refused = if holder.revoked {
        Some("revoked")
    } else if holder.expired {
        Some("expired")
    } else if holder.predates_revocation {
        Some("its user's tokens were revoked")
    } else {
        None
    };
    if let Some(reason) = refused {
        tracing::info!(user_id = %holder.user.id, api_key_id = %holder.key_id, reason, "API key refused");
        return Err(ApiError::InvalidToken);
    }
    let user = holder.user;
    Ok(AuthUser {
        id: user.id,
        email: user.email,
        name: user.name,
        role: user.role,
        token: PresentedToken {
            jti: String::new(),
            usable_until: 0,
        },
        api_key: Some(ApiKeyRef {
            id: holder.key_id,
            name: holder.key_name,
            prefix: holder.key_prefix,
        }),
    })
}

/// `Authorization: Bearer <token>` (the scheme is case-insensitive, as RFC 7235 says).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Middleware: authenticates every request under `/v1/` before routing, and hands the user to
/// handlers through the request extensions.
pub async fn guard_protected_routes(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with(PROTECTED_PREFIX) {
        return next.run(request).await;
    }
    match authenticate(&state, request.headers()).await {
        Ok(user) => {
            tracing::Span::current().record("user_id", user.id.as_str());
            request.extensions_mut().insert(user);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(user.clone());
        }
        authenticate(&AppState::from_ref(state), &parts.headers).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        assert_eq!(
            bearer_token(&headers("Bearer abc.def.ghi")),
            Some("abc.def.ghi")
        );
        assert_eq!(bearer_token(&headers("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("Basic dXNlcjpwYXNz")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&headers("Bearer")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
