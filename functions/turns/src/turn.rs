//! One turn, start to finish: agent and personality, plan, reserve, call, settle. Any failure after
//! the reservation releases it, so a failed call charges nothing.

use std::time::{Duration, Instant, SystemTime};

use helix_shared::auth::AuthUser;
use helix_shared::budget::ledger::{self, Charge, Hold, HoldRequest, ReserveOutcome};
use helix_shared::budget::rules::input_token_bound;
use helix_shared::db::{agents, idempotency, personas};
use helix_shared::engine::{Completion, EngineError, Provider, Usage};
use helix_shared::memory;
use helix_shared::memory::metering::{self, Payer, Purpose};
use helix_shared::memory::store::{self, Hit, Scope};
use helix_shared::orchestrator::{self, PlanError, PreparedTurn};
use helix_shared::personality::{Personality, PersonalityKind};
use helix_shared::pricing::{Price, balance_cents, cents_to_cover, cost_micros};
use helix_shared::xray::{CallOutcome, ProviderCall};
use helix_shared::{ApiError, AppState};
use serde_json::json;

use crate::api::{BudgetView, CostView, TurnResponse, UsageView, ValidTurn};

/// Who is asking and how the request is traced.
pub struct TurnContext<'a> {
    pub user: &'a AuthUser,
    pub trace_id: &'a str,
    pub trace_header: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
}

/// The agent a turn runs under.
struct Agent {
    id: String,
    model: String,
}

pub async fn run_turn(
    state: &AppState,
    context: &TurnContext<'_>,
    turn: ValidTurn,
) -> Result<TurnResponse, ApiError> {
    let started = Instant::now();
    let agent = resolve_agent(state, context.user, turn.provider, turn.model.as_deref()).await?;
    let personality = resolve_personality(state, context.user, &turn.personality_id).await?;
    let price = state
        .prices
        .price(turn.provider.as_str(), &agent.model)
        .map_err(|e| ApiError::BadRequest {
            code: "model_not_priced",
            message: e.to_string(),
        })?;
    let mut prepared = orchestrator::prepare_turn(
        &personality,
        turn.messages,
        turn.overrides,
        turn.tools.as_deref(),
        &state.tools,
        state.config.turns.default_max_tokens,
    )
    .map_err(plan_error)?;
    let memory_hits = recall(state, context, &personality, &prepared).await?;
    if !memory_hits.is_empty() {
        orchestrator::add_context(&mut prepared, memory::context_block(&memory_hits));
    }
    let memory_doc_ids = memory::doc_ids(&memory_hits);

    let hold = reserve(state, context, &agent, price, &prepared).await?;
    prepared.input.max_tokens = Some(hold.reservation.max_tokens);

    let call_started = (Instant::now(), SystemTime::now());
    let outcome = call_engine(state, turn.provider, &agent.model, &prepared).await;
    let provider_latency = call_started.0.elapsed();
    // Sent once the money is settled, so a slow X-Ray never keeps a hold open.
    let xray = XrayCall {
        provider: turn.provider,
        model: &agent.model,
        started: call_started.1,
        ended: call_started.1 + provider_latency,
        outcome: call_outcome(&outcome),
    };
    let completion = match outcome {
        Ok(completion) => completion,
        Err(error) => {
            ledger::release(&state.db, &hold).await?;
            record_xray(state, context, &xray).await;
            return Err(error.into());
        }
    };

    let (usage, usage_estimated) =
        billable_usage(&completion, &prepared, hold.reservation.max_tokens);
    let cost = cost_micros(price, usage.into());
    let charge = completion_charge(
        &hold,
        &agent.id,
        usage,
        cost,
        &CallRecord {
            provider: turn.provider,
            model: &agent.model,
            personality_id: &personality.id,
            trace_id: context.trace_id,
            price_table_version: state.prices.version(),
            usage_estimated,
        },
    );
    let respond = |settlement: &ledger::Settlement| TurnResponse {
        text: completion.text.clone(),
        usage: UsageView {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
        },
        tool_calls: completion.tool_calls.clone(),
        cost: CostView {
            micros: cost,
            cents: settlement.cost_cents,
        },
        budget: BudgetView {
            remaining_cents: settlement.balance_cents,
            remaining_micros: settlement.balance_micros,
        },
        engine: turn.provider,
        model: agent.model.clone(),
        personality_id: personality.id.clone(),
        trace_id: context.trace_id.to_owned(),
        max_tokens: hold.reservation.max_tokens,
        max_tokens_reduced: hold.reservation.clamped,
        memory_doc_ids: memory_doc_ids.clone(),
    };
    let (settlement, response) = settle(state, context, &charge, respond).await?;
    record_xray(state, context, &xray).await;
    if settlement.exceeded_hold {
        tracing::warn!(
            hold_micros = hold.reservation.hold_micros,
            cost_micros = cost,
            "provider reported more than was reserved; charged the truth"
        );
    }
    tracing::info!(
        user_id = %context.user.id,
        engine = turn.provider.as_str(),
        provider = turn.provider.as_str(),
        model = %agent.model,
        personality_id = %personality.id,
        input_tokens = usage.input_tokens,
        output_tokens = usage.output_tokens,
        cost_micros = cost,
        balance_micros = settlement.balance_micros,
        max_tokens = hold.reservation.max_tokens,
        max_tokens_reduced = hold.reservation.clamped,
        memory_chunks = memory_hits.len(),
        provider_latency_ms = provider_latency.as_secs_f64() * 1000.0,
        helix_latency_ms = started.elapsed().saturating_sub(provider_latency).as_secs_f64() * 1000.0,
        "turn completed"
    );
    Ok(response)
}

/// What a completion's ledger row records about the call beside its tokens and cost.
pub struct CallRecord<'a> {
    pub provider: Provider,
    pub model: &'a str,
    pub personality_id: &'a str,
    pub trace_id: &'a str,
    pub price_table_version: &'a str,
    /// The provider reported no usage, so the tokens are Helix's upper bounds.
    pub usage_estimated: bool,
}

/// The settlement of a completion under `hold`: its tokens, exact cost and the row's metadata.
pub fn completion_charge<'a>(
    hold: &'a Hold,
    agent_id: &'a str,
    usage: Usage,
    cost_micros: i64,
    record: &CallRecord<'_>,
) -> Charge<'a> {
    let meta = json!({
        "engine": record.provider, "provider": record.provider, "model": record.model,
        "personality_id": record.personality_id, "trace_id": record.trace_id,
        "price_table_version": record.price_table_version, "hold_id": hold.id,
        "hold_micros": hold.reservation.hold_micros, "max_tokens": hold.reservation.max_tokens,
        "max_tokens_reduced": hold.reservation.clamped, "usage_estimated": record.usage_estimated,
        "cached_input_tokens": usage.cached_input_tokens,
    });
    Charge {
        hold,
        agent_id: Some(agent_id),
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        cost_micros,
        kind: "completion",
        meta,
    }
}

/// Charges the turn; with an Idempotency-Key, stores the response in the same transaction so a
/// retry can never be charged twice.
async fn settle(
    state: &AppState,
    context: &TurnContext<'_>,
    charge: &Charge<'_>,
    respond: impl Fn(&ledger::Settlement) -> TurnResponse,
) -> Result<(ledger::Settlement, TurnResponse), ApiError> {
    let Some(key) = context.idempotency_key else {
        let settlement = ledger::settle(&state.db, charge).await?;
        let response = respond(&settlement);
        return Ok((settlement, response));
    };
    let mut tx = state.db.begin().await?;
    let settlement = ledger::settle(&mut *tx, charge).await?;
    let response = respond(&settlement);
    let stored = serde_json::to_value(&response).map_err(ApiError::internal)?;
    idempotency::complete(&mut *tx, &context.user.id, key, &stored).await?;
    tx.commit().await?;
    Ok((settlement, response))
}

async fn resolve_agent(
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
async fn resolve_personality(
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
    context: &TurnContext<'_>,
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
    let payer = Payer {
        user_id,
        trace_id: context.trace_id,
    };
    let mut metered =
        metering::embed(state, &payer, Purpose::TurnRetrieval, &[query.to_owned()]).await?;
    let vector = metered.embeddings.vectors.pop().unwrap_or_default();
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

async fn reserve(
    state: &AppState,
    context: &TurnContext<'_>,
    agent: &Agent,
    price: Price,
    prepared: &PreparedTurn,
) -> Result<Hold, ApiError> {
    let request = HoldRequest {
        user_id: &context.user.id,
        agent_id: Some(&agent.id),
        trace_id: context.trace_id,
        price,
        input_bound: input_token_bound(&prepared.input),
        requested_max_tokens: prepared
            .input
            .max_tokens
            .unwrap_or(state.config.turns.default_max_tokens),
        ttl: state.config.engines.retry.deadline + HOLD_GRACE,
    };
    match ledger::reserve(&state.db, &request).await? {
        ReserveOutcome::Held(hold) => Ok(hold),
        ReserveOutcome::Exhausted {
            balance_micros,
            required_micros,
        } => Err(ApiError::BudgetExhausted {
            balance_cents: balance_cents(balance_micros),
            required_cents: cents_to_cover(required_micros),
        }),
    }
}

/// How long after the engine deadline a hold is presumed abandoned (a crashed turn).
const HOLD_GRACE: Duration = Duration::from_secs(60);

async fn call_engine(
    state: &AppState,
    provider: Provider,
    model: &str,
    prepared: &PreparedTurn,
) -> Result<Completion, EngineError> {
    let engine = state.engines.engine(provider, model).await?;
    orchestrator::execute(engine.as_ref(), prepared).await
}

/// The provider's usage, or — if it reported none — an upper bound from what was sent and
/// received, never more output than was allowed.
fn billable_usage(
    completion: &Completion,
    prepared: &PreparedTurn,
    max_tokens: u32,
) -> (Usage, bool) {
    if let Some(usage) = completion.usage {
        return (usage, false);
    }
    let calls: usize = completion
        .tool_calls
        .iter()
        .map(|c| c.name.len() + c.arguments.to_string().len())
        .sum();
    let output = ((completion.text.len() + calls) as u64).min(u64::from(max_tokens));
    let usage = Usage {
        input_tokens: input_token_bound(&prepared.input),
        output_tokens: output,
        cached_input_tokens: 0,
    };
    (usage, true)
}

/// A finished provider call, for its X-Ray subsegment.
struct XrayCall<'a> {
    provider: Provider,
    model: &'a str,
    started: SystemTime,
    ended: SystemTime,
    outcome: CallOutcome,
}

fn call_outcome(outcome: &Result<Completion, EngineError>) -> CallOutcome {
    match outcome {
        Ok(completion) => {
            let usage = completion.usage.unwrap_or_default();
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

async fn record_xray(state: &AppState, context: &TurnContext<'_>, call: &XrayCall<'_>) {
    if !state.tracer.is_enabled() {
        return;
    }
    let call = ProviderCall {
        trace_header: context.trace_header,
        trace_id: context.trace_id,
        engine: call.provider.as_str(),
        provider: call.provider.as_str(),
        model: call.model,
        started: call.started,
        ended: call.ended,
        attempts: None,
        outcome: call.outcome,
    };
    if let Err(error) = state.tracer.record_provider_call(&call).await {
        tracing::debug!(%error, "no X-Ray subsegment for this provider call");
    }
}
