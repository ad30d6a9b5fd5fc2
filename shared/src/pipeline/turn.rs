//! One turn, start to finish: agent and personality, plan, memory recall, then the metered call
//! (reserve → open the provider's stream → read it → settle or release). Every turn streams from
//! the provider, watched by its client or not, so a turn that stops early — client gone, provider
//! broke off, deadline — is still charged for what was generated. A refused call charges nothing
//! and gives its Idempotency-Key back; a finished keyed turn's answer is stored in the
//! transaction that charges it.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use super::conversation::{self, Answer, ConversationTurn, Plan, Saved};
use super::embedding::{self, Payer, Purpose};
use super::generation::{Generation, Live, Stop, TurnEvent, TurnStart, generate};
use super::{Billed, CallSpec, ChargeKind, Metered, Settled, details};
use crate::auth::AuthUser;
use crate::budget::rules::{injected_prompt_bound, input_token_bound, message_token_bound};
use crate::chat::{FinishReason, Message, ToolCall};
use crate::conversation::MessageStatus;
use crate::conversation::context::{drop_unanswered_tool_calls, input_budget, omit_oldest};
use crate::db::{agents, idempotency, personas};
use crate::engine::{ChunkStream, EngineError};
use crate::memory::store::{self, Scope};
use crate::memory::{self, Hit};
use crate::orchestrator::{self, Overrides, PlanError, PreparedTurn};
use crate::personality::{Personality, PersonalityKind};
use crate::provider::Provider;
use crate::usage::Usage;
use crate::xray::{CallOutcome, ProviderCall};
use crate::{ApiError, AppState};

/// A turn request that passed validation (the HTTP layer's job).
#[derive(Debug, Clone)]
pub struct TurnInput {
    pub provider: Provider,
    pub model: Option<String>,
    pub personality_id: String,
    pub messages: Vec<Message>,
    pub overrides: Overrides,
    pub tools: Option<Vec<String>>,
    /// A turn of a stored conversation (`conversation_id` or `"save": true`): its history is
    /// loaded first and its answer stored with its charge.
    pub conversation: Option<ConversationTurn>,
}

/// Who is asking, how the request is traced, and who watches it. Owned, so a turn can run in a
/// task of its own that outlives its client's connection and always settles.
pub struct TurnContext {
    pub user: AuthUser,
    pub trace_id: String,
    /// Helix's own id for the request (`telemetry::RequestId`), recorded with its charges.
    pub request_id: String,
    pub trace_header: Option<String>,
    /// With an Idempotency-Key (already claimed): the answer is stored, as `render` shapes it, in
    /// the transaction that charges the turn, so a retry is replayed and never charged twice.
    pub idempotency: Option<Idempotent>,
    /// A streamed turn's client: it gets the text as it arrives.
    pub live: Option<Live>,
    /// When the process serving the turn will be stopped (Lambda's deadline): the turn stops
    /// reading the provider [`SETTLE_MARGIN`] before, so it is always charged.
    pub must_end_by: Option<SystemTime>,
}

/// What a turn keeps back from its invocation's deadline to settle in.
pub const SETTLE_MARGIN: Duration = Duration::from_secs(10);

pub struct Idempotent {
    pub key: String,
    pub render: fn(&TurnOutcome) -> Result<Value, serde_json::Error>,
}

/// A charged turn: the answer (whole, or as far as it got), what it used and cost, and the
/// balance after it.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnOutcome {
    pub text: String,
    pub usage: Usage,
    /// Why `usage` is Helix's estimate rather than the provider's count, if it is.
    pub usage_estimated: Option<&'static str>,
    pub finish_reason: FinishReason,
    pub tool_calls: Vec<ToolCall>,
    pub cost_micros: i64,
    pub cost_cents: i64,
    pub balance_micros: i64,
    pub balance_cents: i64,
    pub provider: Provider,
    pub model: String,
    pub personality_id: String,
    pub trace_id: String,
    /// The output limit the model was given.
    pub max_tokens: u32,
    /// The balance could not pay for the requested max_tokens, so it was lowered to fit.
    pub max_tokens_reduced: bool,
    /// The memory documents whose chunks were placed into the context, best match first.
    pub memory_doc_ids: Vec<String>,
    /// Why the answer ended before the provider finished it; `None` for a whole answer.
    pub stop: Option<Stop>,
    /// Where a conversation turn was stored.
    pub conversation: Option<Saved>,
}

impl TurnOutcome {
    /// The error a client should see for a turn that stopped early (after being charged for what
    /// was generated); `None` for a whole answer, or a client that hung up.
    pub fn failure(&self) -> Option<ApiError> {
        match &self.stop {
            None | Some(Stop::ClientDisconnected) => None,
            Some(Stop::Deadline) => Some(EngineError::Timeout.into()),
            Some(Stop::Provider(error)) => Some(error.clone().into()),
        }
    }
}

/// The agent a turn runs under.
pub(super) struct Agent {
    pub(super) id: String,
    pub(super) model: String,
}

/// A turn ready for its metered call: the agent and price resolved, the engine input prepared
/// (by `charged_turn` from a personality, or by `compat` from an OpenAI request), and the
/// personality whose memory it recalls, if any.
pub(super) struct Planned {
    pub(super) provider: Provider,
    pub(super) agent: Agent,
    pub(super) price: crate::pricing::Price,
    pub(super) personality: Option<Personality>,
    pub(super) prepared: PreparedTurn,
    /// A turn of a stored conversation: where its messages and answer are stored.
    pub(super) saving: Option<Plan>,
    pub(super) started: Instant,
    pub(super) deadline: tokio::time::Instant,
}

/// Runs the turn. Unless it finished whole, the Idempotency-Key (if any) is given back, so a
/// retry runs the turn again.
pub async fn run_turn(
    state: &AppState,
    context: &TurnContext,
    turn: TurnInput,
) -> Result<TurnOutcome, ApiError> {
    let outcome = charged_turn(state, context, turn).await;
    abandon_unless_finished(state, context, outcome).await
}

/// Gives the Idempotency-Key back unless the turn finished whole.
pub(super) async fn abandon_unless_finished(
    state: &AppState,
    context: &TurnContext,
    outcome: Result<TurnOutcome, ApiError>,
) -> Result<TurnOutcome, ApiError> {
    let finished = matches!(&outcome, Ok(outcome) if outcome.stop.is_none());
    if !finished && let Some(keyed) = &context.idempotency {
        idempotency::abandon(&state.db, &context.user.id, &keyed.key).await?;
    }
    outcome
}

async fn charged_turn(
    state: &AppState,
    context: &TurnContext,
    turn: TurnInput,
) -> Result<TurnOutcome, ApiError> {
    let started = Instant::now();
    // One deadline for the whole turn — recall, the model call, then the settle's margin — from
    // now, or sooner when the invocation ends sooner.
    let deadline = read_deadline(state.config.engines.retry.deadline, context.must_end_by);
    let user = &context.user;
    let provider = turn.provider;
    // Another user's conversation is a 404 before anything else is looked at.
    let (saving, messages) = match &turn.conversation {
        Some(asked) => {
            let plan = conversation::plan(state, &user.id, asked, turn.messages).await?;
            let mut messages = plan.history.clone();
            messages.extend(plan.new_messages.iter().map(|(_, m)| m.clone()));
            drop_unanswered_tool_calls(&mut messages);
            (Some(plan), messages)
        }
        None => (None, turn.messages),
    };
    let agent = resolve_agent(state, user, provider, turn.model.as_deref()).await?;
    let personality = resolve_personality(state, user, &turn.personality_id).await?;
    let price = model_price(state, provider, &agent.model)?;
    let prepared = orchestrator::prepare_turn(
        &personality,
        messages,
        turn.overrides,
        turn.tools.as_deref(),
        &state.tools,
        state.config.turns.default_max_tokens,
    )
    .map_err(plan_error)?;
    let planned = Planned {
        provider,
        agent,
        price,
        personality: Some(personality),
        prepared,
        saving,
        started,
        deadline,
    };
    run_planned(state, context, planned).await
}

pub(super) fn model_price(
    state: &AppState,
    provider: Provider,
    model: &str,
) -> Result<crate::pricing::Price, ApiError> {
    state
        .prices
        .price(provider.as_str(), model)
        .map_err(|e| ApiError::BadRequest {
            code: "model_not_priced",
            message: e.to_string(),
        })
}

/// Memory recall, then the metered call: reserve → open the provider's stream → read it →
/// settle or release.
pub(super) async fn run_planned(
    state: &AppState,
    context: &TurnContext,
    planned: Planned,
) -> Result<TurnOutcome, ApiError> {
    let Planned {
        provider,
        agent,
        price,
        personality,
        mut prepared,
        saving,
        started,
        deadline,
    } = planned;
    let user = &context.user;
    let memory_hits = match &personality {
        Some(personality) => recall(state, context, personality, &prepared).await?,
        None => Vec::new(),
    };
    if !memory_hits.is_empty() {
        orchestrator::add_context(&mut prepared, memory::context_block(&memory_hits));
    }
    // Without a personality (an OpenAI-compatible call with none named) the ledger row says so.
    let personality_id = personality.map(|p| p.id).unwrap_or_default();

    let offers_tools = !prepared.input.tools.is_empty();
    let injected = injected_prompt_bound(provider, offers_tools);
    // A stored conversation's oldest turns are left out past the input budget; the reservation
    // below is for exactly what is sent.
    let whole_bound = input_token_bound(&prepared.input) + injected;
    let history_omitted = match &saving {
        Some(plan) => omit_oldest(
            &mut prepared.input.messages,
            plan.new_messages.len(),
            whole_bound,
            input_budget(
                state.config.conversations.max_input_tokens,
                known_context_window(state, provider),
                prepared
                    .input
                    .max_tokens
                    .unwrap_or(state.config.turns.default_max_tokens),
            ),
            message_token_bound,
        ),
        None => 0,
    };
    let input_bound = input_token_bound(&prepared.input) + injected;
    let spec = CallSpec {
        user_id: &user.id,
        agent_id: Some(&agent.id),
        trace_id: &context.trace_id,
        request_id: &context.request_id,
        kind: ChargeKind::Completion,
        provider: provider.as_str(),
        model: &agent.model,
        price,
        price_table_version: state.prices.version(),
        input_bound,
        requested_max_tokens: prepared
            .input
            .max_tokens
            .unwrap_or(state.config.turns.default_max_tokens),
        deadline: state.config.engines.retry.deadline,
        limits: state.config.call_limits,
        api_key: user.api_key.as_ref(),
    };
    // The hold outlives the turn's deadline (it counts from the turn's start, before this).
    let metered = super::reserve(&state.db, spec).await?;
    prepared.input.max_tokens = Some(metered.max_tokens());

    let mut xray = XrayCall::start(provider, &agent.model);
    let opened = metered
        .call(&state.db, async {
            let opened = open_stream(state, provider, &agent.model, &prepared).await;
            if let Err(error) = &opened {
                xray.finish(Err(error));
            }
            opened
        })
        .await;
    let stream = match opened {
        Ok(stream) => stream,
        Err(error) => {
            record_xray(state, context, &xray).await;
            return Err(error);
        }
    };
    if let Some(live) = &context.live {
        let start = TurnStart {
            trace_id: context.trace_id.clone(),
            provider,
            model: agent.model.clone(),
            personality_id: personality_id.clone(),
            max_tokens: metered.max_tokens(),
            max_tokens_reduced: metered.hold.reservation.clamped,
            conversation_id: saving.as_ref().map(|plan| plan.conversation_id.clone()),
        };
        // A client already gone is noticed by `generate`, which then charges the input.
        let _ = live.send(TurnEvent::Started(start)).await;
    }
    let generation = generate(
        stream,
        context.live.as_ref(),
        deadline,
        &prepared.allowed_tools,
    )
    .await;
    xray.finish(generation_outcome(&generation));
    if generation.is_refusal() {
        metered.release(&state.db).await?;
        record_xray(state, context, &xray).await;
        return Err(generation
            .stop
            .and_then(|stop| match stop {
                Stop::Provider(error) => Some(ApiError::from(error)),
                _ => None,
            })
            .unwrap_or_else(|| ApiError::from(EngineError::StreamCut)));
    }

    let billed = generation.billed(input_bound, metered.max_tokens());
    let mut row = details(json!({
        "personality_id": (!personality_id.is_empty()).then_some(&personality_id),
    }));
    if let Some(plan) = &saving {
        // A link only: the ledger row stays when the conversation is deleted.
        row.insert("conversation_id".into(), json!(plan.conversation_id));
    }
    let finish_reason = generation
        .finish_reason
        .unwrap_or(if generation.tool_calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        });
    let outcome = |settled: &Settled| TurnOutcome {
        text: generation.text.clone(),
        usage: billed.usage,
        usage_estimated: billed.estimated,
        finish_reason,
        tool_calls: generation.tool_calls.clone(),
        cost_micros: settled.cost_micros,
        cost_cents: settled.settlement.cost_cents,
        balance_micros: settled.settlement.balance_micros,
        balance_cents: settled.settlement.balance_cents,
        provider,
        model: agent.model.clone(),
        personality_id: personality_id.clone(),
        trace_id: context.trace_id.clone(),
        max_tokens: metered.max_tokens(),
        max_tokens_reduced: metered.hold.reservation.clamped,
        memory_doc_ids: memory::doc_ids(&memory_hits),
        stop: generation.stop.clone(),
        conversation: None,
    };
    let whole = generation.stop.is_none();
    let storing = saving.as_ref().map(|plan| Storing {
        plan,
        answer: Answer {
            text: &generation.text,
            tool_calls: &generation.tool_calls,
            status: match &generation.stop {
                None => MessageStatus::Complete,
                Some(Stop::ClientDisconnected) => MessageStatus::Stopped,
                Some(_) => MessageStatus::Failed,
            },
            usage: billed.usage,
            trace_id: &context.trace_id,
            personality_id: &personality_id,
            engine: provider.as_str(),
            model: &agent.model,
        },
        history_omitted,
    });
    let outcome = settle(
        state, context, &metered, billed, row, whole, storing, outcome,
    )
    .await?;
    record_xray(state, context, &xray).await;
    log_turn(user, &outcome, &memory_hits, &xray, started);
    Ok(outcome)
}

/// The context window of the model a turn runs on, when Helix knows it: the in-process model's
/// (`HELIX_LOCAL_CONTEXT_TOKENS`), used for `local` when no local server is configured.
fn known_context_window(state: &AppState, provider: Provider) -> Option<u64> {
    let engines = &state.config.engines;
    (provider == Provider::Local && engines.local_base_url.is_none())
        .then(|| u64::from(engines.local_chat.context_tokens))
}

/// The engine deadline from now, or earlier if the invocation ends sooner (less the margin the
/// settlement needs).
pub(super) fn read_deadline(
    engine_deadline: Duration,
    must_end_by: Option<SystemTime>,
) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    let invocation_left = must_end_by.map(|end| {
        let left = end.duration_since(SystemTime::now()).unwrap_or_default();
        left.saturating_sub(SETTLE_MARGIN)
    });
    now + invocation_left.map_or(engine_deadline, |left| left.min(engine_deadline))
}

fn log_turn(
    user: &AuthUser,
    outcome: &TurnOutcome,
    memory_hits: &[Hit],
    xray: &XrayCall<'_>,
    started: Instant,
) {
    let provider_latency = xray.latency();
    let helix_latency = started.elapsed().saturating_sub(provider_latency);
    let stop = outcome.stop.as_ref().map(Stop::reason);
    tracing::info!(
        user_id = %user.id,
        engine = outcome.provider.as_str(),
        provider = outcome.provider.as_str(),
        model = %outcome.model,
        personality_id = %outcome.personality_id,
        input_tokens = outcome.usage.input_tokens,
        output_tokens = outcome.usage.output_tokens,
        usage_estimated = outcome.usage_estimated.is_some(),
        usage_estimated_reason = outcome.usage_estimated,
        stopped = stop,
        cost_micros = outcome.cost_micros,
        balance_micros = outcome.balance_micros,
        max_tokens = outcome.max_tokens,
        max_tokens_reduced = outcome.max_tokens_reduced,
        memory_chunks = memory_hits.len(),
        provider_latency_ms = provider_latency.as_secs_f64() * 1000.0,
        helix_latency_ms = helix_latency.as_secs_f64() * 1000.0,
        "{}",
        if stop.is_some() { "turn stopped early; charged what was generated" } else { "turn completed" }
    );
}

/// A conversation turn's answer, to store with its charge.
struct Storing<'a> {
    plan: &'a Plan,
    answer: Answer<'a>,
    history_omitted: usize,
}

/// Charges the turn; a `whole` answer with an Idempotency-Key, and a conversation turn's answer
/// (whole or not), are stored in the same transaction.
#[allow(clippy::too_many_arguments)]
async fn settle(
    state: &AppState,
    context: &TurnContext,
    metered: &Metered<'_>,
    billed: Billed,
    row: serde_json::Map<String, Value>,
    whole: bool,
    storing: Option<Storing<'_>>,
    outcome: impl Fn(&Settled) -> TurnOutcome,
) -> Result<TurnOutcome, ApiError> {
    let keyed = context.idempotency.as_ref().filter(|_| whole);
    if keyed.is_none() && storing.is_none() {
        let settled = metered.settle(&state.db, billed, row).await?;
        return Ok(outcome(&settled));
    }
    let mut tx = state.db.begin().await?;
    let settled = metered.settle(&mut *tx, billed, row).await?;
    let mut outcome = outcome(&settled);
    if let Some(storing) = &storing {
        let saved = conversation::store_answer(
            &mut tx,
            &context.user.id,
            storing.plan,
            &storing.answer,
            &settled,
            storing.history_omitted,
        )
        .await?;
        outcome.conversation = Some(saved);
    }
    if let Some(keyed) = keyed {
        let stored = (keyed.render)(&outcome).map_err(ApiError::internal)?;
        idempotency::complete(&mut *tx, &context.user.id, &keyed.key, &stored).await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

pub(super) async fn resolve_agent(
    state: &AppState,
    user: &AuthUser,
    provider: Provider,
    model: Option<&str>,
) -> Result<Agent, ApiError> {
    let row = agents::find_for_turn(&state.db, &user.id, provider, model).await?;
    match row {
        Some(row) if row.active => Ok(Agent {
            id: row.id,
            model: row.model,
        }),
        Some(row) => Err(ApiError::Forbidden {
            code: "agent_disabled",
            message: format!("your {provider} agent for {} is disabled", row.model),
        }),
        None => Err(ApiError::Forbidden {
            code: "agent_not_configured",
            message: match model {
                Some(model) => format!("you have no {provider} agent for {model}"),
                None => format!("you have no {provider} agent"),
            },
        }),
    }
}

/// A preset by id, else one of the caller's own personas; anyone else's persona does not exist.
pub(super) async fn resolve_personality(
    state: &AppState,
    user: &AuthUser,
    id: &str,
) -> Result<Personality, ApiError> {
    if let Some(preset) = state.presets.get(id) {
        return Ok(preset.clone());
    }
    let persona = personas::find_for_user(&state.db, &user.id, id)
        .await?
        .ok_or(ApiError::NotFound {
            resource: "personality",
        })?;
    Ok(Personality::from_persona(
        persona.id,
        persona.name,
        persona.prompt,
        None,
        persona.memory.map(|m| m.0),
    ))
}

/// The memory chunks this turn should see: none unless the personality enables memory and the
/// user has stored something it may see (so an empty memory costs no embedding call). The query
/// embedding is charged like any model call, before the turn's own reservation.
async fn recall(
    state: &AppState,
    context: &TurnContext,
    personality: &Personality,
    prepared: &PreparedTurn,
) -> Result<Vec<Hit>, ApiError> {
    let Some(settings) = personality.memory.filter(|m| m.enabled) else {
        return Ok(Vec::new());
    };
    let Some(query) = orchestrator::latest_user_text(&prepared.input.messages) else {
        return Ok(Vec::new());
    };
    let scope = match personality.kind {
        PersonalityKind::Persona => Scope::Persona(&personality.id),
        PersonalityKind::Preset => Scope::Shared,
    };
    let user_id = &context.user.id;
    if !store::has_chunks(&state.db, user_id, scope).await? {
        return Ok(Vec::new());
    }
    let vector = query_vector(state, context, query).await?;
    let hits = store::search(
        &state.db,
        user_id,
        scope,
        vector,
        settings.k,
        settings.min_score,
    )
    .await?;
    Ok(hits)
}

/// The recall query's embedding, charged — or, for a retry of a keyed turn that failed after
/// paying for it, the vector kept with its key.
async fn query_vector(
    state: &AppState,
    context: &TurnContext,
    query: &str,
) -> Result<Vec<f32>, ApiError> {
    let user_id = &context.user.id;
    let key = context.idempotency.as_ref().map(|keyed| keyed.key.as_str());
    let embedder = state.embedders.embedder().await?;
    let model = format!("{}/{}", embedder.provider().as_str(), embedder.model());
    if let Some(key) = key
        && let Some(kept) = idempotency::recalled(&state.db, user_id, key).await?
        && kept.model == model
    {
        return Ok(kept.vector);
    }
    let payer = Payer {
        user_id,
        trace_id: &context.trace_id,
        request_id: &context.request_id,
        api_key: context.user.api_key.as_ref(),
    };
    let mut metered =
        embedding::embed(state, &payer, Purpose::TurnRetrieval, &[query.to_owned()]).await?;
    let vector = metered.embeddings.vectors.pop().unwrap_or_default();
    if let Some(key) = key {
        let kept = idempotency::Recalled { model, vector };
        idempotency::keep_recalled(&state.db, user_id, key, &kept).await?;
        return Ok(kept.vector);
    }
    Ok(vector)
}

fn plan_error(error: PlanError) -> ApiError {
    let code = match error {
        PlanError::ToolNotAllowed(_) => "tool_not_allowed",
        PlanError::UnknownTool(_) => "unknown_tool",
    };
    ApiError::BadRequest {
        code,
        message: error.to_string(),
    }
}

async fn open_stream(
    state: &AppState,
    provider: Provider,
    model: &str,
    prepared: &PreparedTurn,
) -> Result<Box<dyn ChunkStream>, EngineError> {
    let engine = state.engines.engine(provider, model).await?;
    engine.stream(&prepared.input).await
}

/// A provider call, timed for its X-Ray subsegment (sent once the money is settled, so a slow
/// X-Ray never keeps a hold open).
struct XrayCall<'a> {
    provider: Provider,
    model: &'a str,
    started: (Instant, SystemTime),
    latency: Duration,
    outcome: CallOutcome,
}

impl<'a> XrayCall<'a> {
    fn start(provider: Provider, model: &'a str) -> Self {
        XrayCall {
            provider,
            model,
            started: (Instant::now(), SystemTime::now()),
            latency: Duration::ZERO,
            outcome: CallOutcome::Failed {
                status: None,
                throttled: false,
            },
        }
    }

    /// The call ended: with the provider's count (if it gave one), or its error.
    fn finish(&mut self, result: Result<Option<Usage>, &EngineError>) {
        self.latency = self.started.0.elapsed();
        self.outcome = call_outcome(result);
    }

    fn latency(&self) -> Duration {
        self.latency
    }
}

/// How the provider call ended, for X-Ray: a provider that broke off mid-answer failed.
fn generation_outcome(generation: &Generation) -> Result<Option<Usage>, &EngineError> {
    match &generation.stop {
        Some(Stop::Provider(error)) => Err(error),
        _ => Ok(generation.usage),
    }
}

fn call_outcome(outcome: Result<Option<Usage>, &EngineError>) -> CallOutcome {
    match outcome {
        Ok(usage) => {
            let usage = usage.unwrap_or_default();
            CallOutcome::Ok {
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
            }
        }
        Err(error) => CallOutcome::Failed {
            status: match error {
                EngineError::Upstream { status } => Some(*status),
                EngineError::RateLimited { .. } => Some(429),
                EngineError::Auth => Some(401),
                EngineError::InvalidRequest { .. } | EngineError::ContextLength => Some(400),
                _ => None,
            },
            throttled: matches!(error, EngineError::RateLimited { .. }),
        },
    }
}

async fn record_xray(state: &AppState, context: &TurnContext, call: &XrayCall<'_>) {
    if !state.tracer.is_enabled() {
        return;
    }
    let call = ProviderCall {
        trace_header: context.trace_header.as_deref(),
        trace_id: &context.trace_id,
        engine: call.provider.as_str(),
        provider: call.provider.as_str(),
        model: call.model,
        started: call.started.1,
        ended: call.started.1 + call.latency,
        attempts: None,
        outcome: call.outcome,
    };
    if let Err(error) = state.tracer.record_provider_call(&call).await {
        tracing::debug!(%error, "no X-Ray subsegment for this provider call");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invocation_deadline_less_the_settle_margin_cuts_a_longer_engine_deadline() {
        let engine = Duration::from_secs(300);
        let now = tokio::time::Instant::now();
        let unbounded = read_deadline(engine, None);
        assert!(unbounded >= now + engine);
        let lambda_ends = SystemTime::now() + Duration::from_secs(40);
        let bounded = read_deadline(engine, Some(lambda_ends));
        let left = bounded.duration_since(now);
        let expected = Duration::from_secs(29)..Duration::from_millis(30_100);
        assert!(expected.contains(&left), "{left:?}");
        let past = SystemTime::now() - Duration::from_secs(1);
        assert!(read_deadline(engine, Some(past)) <= tokio::time::Instant::now());
    }
}
