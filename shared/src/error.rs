//! One error type for every HTTP answer Helix gives: a status, a stable snake_case `code` the web
//! app can switch on, a message safe to show, and the request's `trace_id`. 5xx hide internals.

use std::error::Error as StdError;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::auth::passcode::PasscodeError;
use crate::avatars::AvatarError;
use crate::engine::EngineError;
use crate::pagination::PageError;
use crate::telemetry::{cause_chain, current_trace_id};

type BoxError = Box<dyn StdError + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input: the message names the field and says what is wrong.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    #[error("the bearer token is missing, invalid or expired")]
    InvalidToken,
    #[error("the budget is exhausted")]
    BudgetExhausted {
        balance_cents: i64,
        required_cents: i64,
    },
    /// The API key the call came with has spent its own limit (the balance may still have more).
    #[error(
        "the API key \"{key_name}\" ({key_prefix}…) has reached its spend limit of {limit_cents} cents"
    )]
    KeySpendLimitReached {
        key_name: String,
        key_prefix: String,
        limit_cents: i64,
        spent_cents: i64,
    },
    /// A call cost more than Helix had reserved for it: new calls wait until reconciliation has
    /// checked the books (at most its schedule's interval).
    #[error(
        "spending is paused until the budget is reconciled: a call cost more than was reserved"
    )]
    SpendLocked,
    /// The user's spending cap for the period would be passed; it lifts when the period ends.
    #[error("the spending cap for this period is reached")]
    SpendCapReached {
        cap_cents: i64,
        spent_cents: i64,
        held_cents: i64,
    },
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{resource} not found")]
    NotFound { resource: &'static str },
    /// An OpenAI-compatible call named a model none of the caller's active agents serves.
    #[error("the model `{model}` does not exist or you have no active agent for it")]
    ModelNotFound { model: String },
    /// An OpenAI-compatible call continued a conversation the caller does not have (unknown, or
    /// another user's: never told apart). `/v1/turns` says `not_found`, as its other 404s do.
    #[error("the conversation `{id}` does not exist")]
    ConversationNotFound { id: String },
    #[error("this method is not allowed on this route")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("the request body is larger than the limit")]
    PayloadTooLarge,
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("{message}")]
    TooManyRequests {
        code: &'static str,
        message: String,
        retry_after_secs: u64,
    },
    #[error("this route is not implemented yet")]
    NotImplemented,
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    /// A model provider failed or answered nonsense.
    #[error("{message}")]
    BadGateway { code: &'static str, message: String },
    /// A model provider did not answer in time.
    #[error("{message}")]
    GatewayTimeout { code: &'static str, message: String },
    /// Anything unexpected. The source is logged with its cause chain, never shown.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code: "invalid_request",
            message: message.into(),
        }
    }

    pub fn internal(source: impl Into<BoxError>) -> Self {
        ApiError::Internal(source.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::BudgetExhausted { .. }
            | ApiError::SpendLocked
            | ApiError::KeySpendLimitReached { .. } => StatusCode::PAYMENT_REQUIRED,
            ApiError::SpendCapReached { .. } => StatusCode::PAYMENT_REQUIRED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. }
            | ApiError::ModelNotFound { .. }
            | ApiError::ConversationNotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            ApiError::GatewayTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::TooManyRequests { code, .. }
            | ApiError::Unavailable { code, .. }
            | ApiError::BadGateway { code, .. }
            | ApiError::GatewayTimeout { code, .. } => code,
            ApiError::InvalidToken => "invalid_token",
            ApiError::BudgetExhausted { .. } => "budget_exhausted",
            ApiError::SpendLocked => "spend_locked",
            ApiError::KeySpendLimitReached { .. } => "key_spend_limit_reached",
            ApiError::SpendCapReached { .. } => "spend_cap_reached",
            ApiError::NotFound { .. } => "not_found",
            ApiError::ModelNotFound { .. } => "model_not_found",
            ApiError::ConversationNotFound { .. } => "conversation_not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::NotImplemented => "not_implemented",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// Fields beyond code/message/trace_id that a client needs to act on the error.
    fn details(&self) -> Map<String, Value> {
        let mut details = Map::new();
        match self {
            ApiError::BudgetExhausted {
                balance_cents,
                required_cents,
            } => {
                details.insert("balance_cents".into(), json!(balance_cents));
                details.insert("required_cents".into(), json!(required_cents));
            }
            ApiError::KeySpendLimitReached {
                limit_cents,
                spent_cents,
                ..
            } => {
                details.insert("key_spend_limit_cents".into(), json!(limit_cents));
                details.insert("key_spent_cents".into(), json!(spent_cents));
            }
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => {
                details.insert("retry_after_secs".into(), json!(retry_after_secs));
            }
            ApiError::SpendCapReached {
                cap_cents,
                spent_cents,
                held_cents,
            } => {
                details.insert("cap_cents".into(), json!(cap_cents));
                details.insert("spent_cents".into(), json!(spent_cents));
                details.insert("held_cents".into(), json!(held_cents));
            }
            _ => {}
        }
        details
    }

    /// Logs the error as its answer does: failures with their cause chain, refusals briefly.
    pub fn log(&self) {
        let is_failure = matches!(
            self,
            ApiError::Internal(_)
                | ApiError::Unavailable { .. }
                | ApiError::BadGateway { .. }
                | ApiError::GatewayTimeout { .. }
        );
        if is_failure {
            tracing::error!(code = self.code(), error.chain = %cause_chain(self), "request failed");
        } else {
            tracing::info!(
                code = self.code(),
                status = self.status().as_u16(),
                "request refused"
            );
        }
    }
}

/// Helix's error body (`{"error": {"code", "message", "trace_id", …}}`) in OpenAI's shape
/// (`{"error": {"message", "type", "code", "param"}}`), keeping Helix's extra fields. The `type`
/// follows the status as OpenAI's does (402 is `insufficient_quota`); a bad bearer token is
/// `invalid_api_key`, and a 400 whose message starts with a field path names it as `param`.
pub fn openai_shape(status: StatusCode, helix: &Value) -> Value {
    let mut error = helix
        .get("error")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let kind = match status.as_u16() {
        401 => "authentication_error",
        402 => "insufficient_quota",
        403 => "permission_error",
        429 => "rate_limit_error",
        500.. => "api_error",
        _ => "invalid_request_error",
    };
    let code = match error.get("code").and_then(Value::as_str) {
        Some("invalid_token") => "invalid_api_key".to_owned(),
        Some(code) => code.to_owned(),
        None => status
            .canonical_reason()
            .unwrap_or("error")
            .to_lowercase()
            .replace(' ', "_"),
    };
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .map_or_else(|| status.to_string(), str::to_owned);
    let param = (status == StatusCode::BAD_REQUEST)
        .then(|| field_of(&message))
        .flatten();
    error.insert("message".into(), json!(message));
    error.insert("type".into(), json!(kind));
    error.insert("code".into(), json!(code));
    error.insert("param".into(), json!(param));
    json!({ "error": error })
}

/// `messages[0].content: must not be empty` → `messages[0].content` (also after axum's own
/// prefix for a body of the wrong types).
fn field_of(message: &str) -> Option<String> {
    let message = message
        .strip_prefix("Failed to deserialize the JSON body into the target type: ")
        .unwrap_or(message);
    let (field, _) = message.split_once(": ")?;
    let is_path = !field.is_empty()
        && field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'));
    is_path.then(|| field.to_owned())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let trace_id = current_trace_id().map(|id| id.to_string());
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code()));
        error.insert("message".into(), json!(self.to_string()));
        error.insert("trace_id".into(), json!(trace_id));
        error.extend(self.details());

        let mut response = (self.status(), Json(json!({ "error": error }))).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
            // axum's text names the offending field ("passcode: invalid type: …").
            _ => ApiError::BadRequest {
                code: "invalid_json",
                message: rejection.body_text(),
            },
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request(rejection.body_text())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::error!(error.chain = %cause_chain(&error), "database unreachable");
                ApiError::Unavailable {
                    code: "database_unavailable",
                    message: "the database is unavailable, try again shortly".into(),
                }
            }
            sqlx::Error::Database(database) => {
                let refused = database.code().as_deref().and_then(refused_by_database);
                match refused {
                    Some(error) => {
                        // Input that got past the checks at the edge: one of them is missing.
                        tracing::warn!(
                            sqlstate = database.code().as_deref(),
                            error.message = database.message(),
                            "the database refused the request's input"
                        );
                        error
                    }
                    None => ApiError::internal(sqlx::Error::Database(database)),
                }
            }
            other => ApiError::internal(other),
        }
    }
}

/// The SQLSTATEs that mean the request's data, not Helix, is at fault: a safety net behind the
/// checks at the edge (`http::ApiJson`, `ApiPath`, `ApiQuery` and each handler's validation), so a
/// value they missed is a 4xx rather than a 500. Their messages name no internals.
fn refused_by_database(sqlstate: &str) -> Option<ApiError> {
    let bad_value = |message: &str| ApiError::BadRequest {
        code: "invalid_request",
        message: message.to_owned(),
    };
    match sqlstate {
        // character_not_in_repertoire (U+0000 in text), untranslatable_character (in jsonb)
        "22021" | "22P05" => Some(bad_value(
            "the request holds a character Helix cannot store (U+0000)",
        )),
        // datetime_field_overflow, numeric_value_out_of_range
        "22008" | "22003" => Some(bad_value("the request holds a value out of range")),
        // foreign_key_violation: what the request refers to was deleted meanwhile.
        "23503" => Some(ApiError::Conflict {
            code: "stale_reference",
            message: "something this request refers to no longer exists; reload and try again"
                .into(),
        }),
        _ => None,
    }
}

impl From<EngineError> for ApiError {
    /// Every message here is Helix's own: what a provider or the local model said (an account's
    /// credit balance, a file path, a request id) is logged, never answered. A provider's auth
    /// failure is Helix's misconfiguration, not the caller's: it is a 502, so the web app does not
    /// mistake it for an expired session (which is what a 401 means to it).
    fn from(error: EngineError) -> Self {
        if let Some(detail) = outside_detail(&error) {
            tracing::warn!(
                provider_error = %error,
                detail,
                "the provider's or local model's message is logged, not answered"
            );
        }
        match error {
            EngineError::Auth => ApiError::BadGateway {
                code: "provider_auth_failed",
                message: "the provider refused this deployment's credentials".into(),
            },
            EngineError::RateLimited { retry_after } => ApiError::TooManyRequests {
                code: "provider_rate_limited",
                message: "the provider is rate limiting requests; try again shortly".into(),
                retry_after_secs: retry_after.map_or(1, |d| d.as_secs().max(1)),
            },
            EngineError::InvalidRequest { .. } => ApiError::BadRequest {
                code: "provider_rejected_request",
                message:
                    "the provider refused the request; check the model, its parameters and the \
                     messages (the trace id finds the provider's reason in Helix's logs)"
                        .into(),
            },
            EngineError::ContextLength => ApiError::BadRequest {
                code: "context_length_exceeded",
                message: "the conversation is longer than the model's context window".into(),
            },
            EngineError::Upstream { .. } => ApiError::BadGateway {
                code: "provider_error",
                message: "the provider failed to answer; try again shortly".into(),
            },
            EngineError::Malformed { .. } => ApiError::BadGateway {
                code: "provider_malformed_response",
                message: "the provider's response could not be understood".into(),
            },
            EngineError::Unreachable { .. } => ApiError::BadGateway {
                code: "provider_unreachable",
                message: "the provider could not be reached".into(),
            },
            EngineError::Timeout => ApiError::GatewayTimeout {
                code: "provider_timeout",
                message: "the provider did not answer in time".into(),
            },
            EngineError::NotConfigured { provider } => ApiError::Unavailable {
                code: "provider_not_configured",
                message: format!("provider {provider} is not configured on this deployment"),
            },
            EngineError::LocalModelUnavailable { .. } => ApiError::Unavailable {
                code: "local_model_unavailable",
                message: "the local model is not available on this server".into(),
            },
            // Model names only (the client's and the configured one), never a path.
            EngineError::ModelNotServed { requested, served } => ApiError::BadRequest {
                code: "model_not_available",
                message: format!("the local engine serves model {served}, not {requested}"),
            },
            // Helix's own words, naming the field (OpenAI's `param`).
            EngineError::Unsupported { .. } => ApiError::BadRequest {
                code: "unsupported_parameter",
                message: error.to_string(),
            },
            EngineError::StreamCut => ApiError::BadGateway {
                code: "provider_stream_cut",
                message: "the provider's stream ended before the answer was complete".into(),
            },
            EngineError::LocalModelFailed { .. } => ApiError::Internal(Box::new(error)),
        }
    }
}

/// The text an engine error carries from outside Helix (a provider's message, a transport's
/// detail, a model file's path), if any.
fn outside_detail(error: &EngineError) -> Option<&str> {
    match error {
        EngineError::InvalidRequest { message } => Some(message),
        EngineError::Malformed { detail } | EngineError::Unreachable { detail } => Some(detail),
        EngineError::LocalModelUnavailable { reason } => Some(reason),
        _ => None,
    }
}

impl From<AvatarError> for ApiError {
    fn from(error: AvatarError) -> Self {
        match error {
            AvatarError::UnsupportedContentType | AvatarError::ContentLengthOutOfRange { .. } => {
                ApiError::bad_request(error.to_string())
            }
            AvatarError::Presign(_) | AvatarError::Delete { .. } => ApiError::internal(error),
        }
    }
}

impl From<PasscodeError> for ApiError {
    fn from(error: PasscodeError) -> Self {
        match error {
            PasscodeError::Empty => ApiError::bad_request(error.to_string()),
            PasscodeError::TooLong { .. } => ApiError::BadRequest {
                code: "passcode_too_long",
                message: error.to_string(),
            },
            PasscodeError::Hash(_) => ApiError::internal(error),
        }
    }
}

impl From<PageError> for ApiError {
    fn from(error: PageError) -> Self {
        ApiError::bad_request(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{TraceId, with_trace_id};
    use http_body_util::BodyExt;

    async fn render(error: ApiError) -> (StatusCode, axum::http::HeaderMap, Value) {
        let response = error.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn every_variant_maps_to_its_status_and_code() {
        let cases = [
            (
                ApiError::bad_request("name: too long"),
                400,
                "invalid_request",
            ),
            (ApiError::InvalidToken, 401, "invalid_token"),
            (
                ApiError::BudgetExhausted {
                    balance_cents: 0,
                    required_cents: 3,
                },
                402,
                "budget_exhausted",
            ),
            (
                ApiError::SpendCapReached {
                    cap_cents: 2000,
                    spent_cents: 1990,
                    held_cents: 5,
                },
                402,
                "spend_cap_reached",
            ),
            (
                ApiError::Forbidden {
                    code: "agent_disabled",
                    message: "x".into(),
                },
                403,
                "agent_disabled",
            ),
            (
                ApiError::NotFound {
                    resource: "persona",
                },
                404,
                "not_found",
            ),
            (
                ApiError::ConversationNotFound { id: "c".into() },
                404,
                "conversation_not_found",
            ),
            (ApiError::MethodNotAllowed, 405, "method_not_allowed"),
            (
                ApiError::Conflict {
                    code: "duplicate",
                    message: "x".into(),
                },
                409,
                "duplicate",
            ),
            (ApiError::PayloadTooLarge, 413, "payload_too_large"),
            (
                ApiError::UnsupportedMediaType,
                415,
                "unsupported_media_type",
            ),
            (
                ApiError::TooManyRequests {
                    code: "too_many_attempts",
                    message: "x".into(),
                    retry_after_secs: 9,
                },
                429,
                "too_many_attempts",
            ),
            (ApiError::NotImplemented, 501, "not_implemented"),
            (
                ApiError::Unavailable {
                    code: "database_unavailable",
                    message: "x".into(),
                },
                503,
                "database_unavailable",
            ),
            (ApiError::internal("boom"), 500, "internal_error"),
        ];
        for (error, status, code) in cases {
            let (got_status, _, body) = render(error).await;
            assert_eq!(got_status.as_u16(), status, "{code}");
            assert_eq!(body["error"]["code"], code);
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
    }

    #[tokio::test]
    async fn the_body_carries_the_current_trace_id() {
        let id = TraceId::parse("trace-abc").unwrap();
        let (_, _, body) = with_trace_id(
            id,
            render(ApiError::NotFound {
                resource: "persona",
            }),
        )
        .await;
        assert_eq!(
            body,
            json!({"error": {"code": "not_found", "message": "persona not found", "trace_id": "trace-abc"}})
        );
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let (_, _, body) = render(ApiError::internal("password=hunter2 at db.rs:12")).await;
        let text = body.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(body["error"]["message"], "internal error");
    }

    #[tokio::test]
    async fn invalid_token_says_so_in_www_authenticate() {
        let (_, headers, _) = render(ApiError::InvalidToken).await;
        assert_eq!(
            headers[header::WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#
        );
    }

    #[tokio::test]
    async fn too_many_requests_sets_retry_after() {
        let error = ApiError::TooManyRequests {
            code: "too_many_attempts",
            message: "slow down".into(),
            retry_after_secs: 42,
        };
        let (_, headers, body) = render(error).await;
        assert_eq!(headers[header::RETRY_AFTER], "42");
        assert_eq!(body["error"]["retry_after_secs"], 42);
    }

    #[tokio::test]
    async fn budget_exhausted_reports_balance_and_requirement() {
        let (_, _, body) = render(ApiError::BudgetExhausted {
            balance_cents: 0,
            required_cents: 12,
        })
        .await;
        assert_eq!(body["error"]["balance_cents"], 0);
        assert_eq!(body["error"]["required_cents"], 12);
    }

    #[test]
    fn the_cause_chain_joins_every_source() {
        let io = std::io::Error::other("connection refused");
        let error = ApiError::from(sqlx::Error::Io(io));
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        let wrapped = ApiError::internal(sqlx::Error::Protocol("bad frame".into()));
        assert!(
            cause_chain(&wrapped).contains("bad frame"),
            "{}",
            cause_chain(&wrapped)
        );
    }

    #[test]
    fn engine_errors_map_to_clear_http_answers() {
        use std::time::Duration;

        let cases = [
            (
                EngineError::Auth,
                StatusCode::BAD_GATEWAY,
                "provider_auth_failed",
            ),
            (
                EngineError::RateLimited {
                    retry_after: Some(Duration::from_secs(7)),
                },
                StatusCode::TOO_MANY_REQUESTS,
                "provider_rate_limited",
            ),
            (
                EngineError::InvalidRequest {
                    message: "bad".into(),
                },
                StatusCode::BAD_REQUEST,
                "provider_rejected_request",
            ),
            (
                EngineError::ContextLength,
                StatusCode::BAD_REQUEST,
                "context_length_exceeded",
            ),
            (
                EngineError::Upstream { status: 500 },
                StatusCode::BAD_GATEWAY,
                "provider_error",
            ),
            (
                EngineError::Timeout,
                StatusCode::GATEWAY_TIMEOUT,
                "provider_timeout",
            ),
            (
                EngineError::Malformed { detail: "x".into() },
                StatusCode::BAD_GATEWAY,
                "provider_malformed_response",
            ),
            (
                EngineError::Unreachable { detail: "x".into() },
                StatusCode::BAD_GATEWAY,
                "provider_unreachable",
            ),
            (
                EngineError::NotConfigured { provider: "openai" },
                StatusCode::SERVICE_UNAVAILABLE,
                "provider_not_configured",
            ),
            (
                EngineError::LocalModelUnavailable { reason: "x".into() },
                StatusCode::SERVICE_UNAVAILABLE,
                "local_model_unavailable",
            ),
            (
                EngineError::ModelNotServed {
                    requested: "a".into(),
                    served: "b".into(),
                },
                StatusCode::BAD_REQUEST,
                "model_not_available",
            ),
            (
                EngineError::StreamCut,
                StatusCode::BAD_GATEWAY,
                "provider_stream_cut",
            ),
            (
                EngineError::LocalModelFailed { reason: "x".into() },
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
            ),
        ];
        for (error, status, code) in cases {
            let api = ApiError::from(error);
            assert_eq!((api.status(), api.code()), (status, code));
        }
    }

    #[test]
    fn what_providers_and_the_local_model_say_never_reaches_the_client() {
        let secrets = [
            "Your credit balance is too low to access the Anthropic API",
            "/home/helix/models/smollm2/model.gguf",
            "req_01HX",
        ];
        let errors = [
            EngineError::InvalidRequest {
                message: format!("{} ({})", secrets[0], secrets[2]),
            },
            EngineError::LocalModelUnavailable {
                reason: format!("{} is missing", secrets[1]),
            },
            EngineError::Malformed {
                detail: secrets[1].into(),
            },
            EngineError::Unreachable {
                detail: secrets[2].into(),
            },
            EngineError::LocalModelFailed {
                reason: secrets[1].into(),
            },
        ];
        for error in errors {
            let answer = ApiError::from(error.clone()).to_string();
            for secret in secrets {
                assert!(!answer.contains(secret), "{error:?} answered {answer:?}");
            }
        }
    }
}
