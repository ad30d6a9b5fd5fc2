//! Support for Helix's system tests, one test binary (`tests/tests/system/`, a module per area):
//! configuration and state, requests, one `World`, fake providers (Bedrock's stream framing too)
//! and AWS, streamed answers, captured logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod aws;
mod bedrock;
mod books;
mod config;
mod fixtures;
mod http;
mod logs;
mod providers;
mod sse;
mod world;

pub use aws::{MotoServer, fake_aws_config};
pub use bedrock::{EVENT_STREAM, bedrock_event, bedrock_exception};
pub use books::{assert_invariant, open_holds};
pub use config::{config_with, state, state_with, state_without_database};
pub use fixtures::{AVATAR_PNG, add_agent, prepare_memory, signed_in_user};
pub use http::{
    Reply, V1_ROUTES, authorised, get, get_with_token, json_request, post_json_from, request, send,
};
pub use logs::{CaptureGuard, CapturedLogs, capture_logs};
pub use providers::{AnthropicReply, BedrockReply, Ending, OpenAiReply, PacedProvider};
pub use sse::{EventReader, SseEvent, StreamReply, parse_events, send_stream, serve};
pub use world::World;
