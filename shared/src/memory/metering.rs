//! Embedding calls are charged like model calls: reserve the worst case, call, settle the exact
//! cost as a ledger row of kind `embedding` (or release the hold on failure). A balance that
//! cannot pay is a 402 before anything is embedded.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::budget::ledger::{self, Charge, HoldRequest, ReserveOutcome};
use crate::embedding::Embeddings;
use crate::pricing::{TokenCounts, balance_cents, cents_to_cover, cost_micros};
use crate::{ApiError, AppState};

/// What an embedding call is for, in its ledger row and log line.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    Document,
    Search,
    TurnRetrieval,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Document => "memory_document",
            Purpose::Search => "memory_search",
            Purpose::TurnRetrieval => "turn_retrieval",
        }
    }
}

pub struct Metered {
    pub embeddings: Embeddings,
    pub cost_micros: i64,
    pub cost_cents: i64,
    pub balance_micros: i64,
    pub balance_cents: i64,
}

/// Who pays and how the call is traced.
pub struct Payer<'a> {
    pub user_id: &'a str,
    pub trace_id: &'a str,
}

/// An upper bound of the tokens `texts` can cost: one per UTF-8 byte (byte-level BPE and word
/// pieces never use fewer bytes per token) plus the two special tokens BERT models add.
pub fn input_token_bound(texts: &[String]) -> u64 {
    texts.iter().map(|t| t.len() as u64 + 2).sum()
}

pub async fn embed(
    state: &AppState,
    payer: &Payer<'_>,
    purpose: Purpose,
    texts: &[String],
) -> Result<Metered, ApiError> {
    let embedder = state.embedders.embedder().await?;
    let (provider, model) = (embedder.provider().as_str(), embedder.model().to_owned());
    let price = state
        .prices
        .embedding_price(provider, &model)
        .map_err(|e| ApiError::Unavailable {
            code: "embedding_not_priced",
            message: e.to_string(),
        })?;
    let request = HoldRequest {
        user_id: payer.user_id,
        agent_id: None,
        trace_id: payer.trace_id,
        price,
        input_bound: input_token_bound(texts),
        requested_max_tokens: 0,
        ttl: state.config.engines.retry.deadline + HOLD_GRACE,
    };
    let hold = match ledger::reserve(&state.db, &request).await? {
        ReserveOutcome::Held(hold) => hold,
        ReserveOutcome::Exhausted {
            balance_micros,
            required_micros,
        } => {
            return Err(ApiError::BudgetExhausted {
                balance_cents: balance_cents(balance_micros),
                required_cents: cents_to_cover(required_micros),
            });
        }
    };

    let started = Instant::now();
    let embeddings = match embedder.embed(texts).await {
        Ok(embeddings) => embeddings,
        Err(error) => {
            ledger::release(&state.db, &hold).await?;
            return Err(error.into());
        }
    };
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let cost = cost_micros(
        price,
        TokenCounts {
            input_tokens: embeddings.input_tokens,
            cached_input_tokens: 0,
            output_tokens: 0,
        },
    );
    let charge = Charge {
        hold: &hold,
        agent_id: None,
        input_tokens: embeddings.input_tokens,
        output_tokens: 0,
        cost_micros: cost,
        kind: "embedding",
        meta: json!({
            "engine": provider, "provider": provider, "model": model,
            "purpose": purpose.as_str(), "texts": texts.len(),
            "dimensions": embedder.dimensions(), "trace_id": payer.trace_id,
            "price_table_version": state.prices.version(), "hold_id": hold.id,
            "hold_micros": hold.reservation.hold_micros,
        }),
    };
    let settlement = ledger::settle(&state.db, &charge).await?;
    tracing::info!(
        user_id = %payer.user_id,
        engine = provider,
        provider,
        model = %model,
        purpose = purpose.as_str(),
        texts = texts.len(),
        input_tokens = embeddings.input_tokens,
        cost_micros = cost,
        latency_ms,
        "embedding call"
    );
    Ok(Metered {
        embeddings,
        cost_micros: cost,
        cost_cents: settlement.cost_cents,
        balance_micros: settlement.balance_micros,
        balance_cents: settlement.balance_cents,
    })
}

/// How long after the engine deadline a hold is presumed abandoned.
const HOLD_GRACE: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_bound_covers_every_byte_and_the_special_tokens() {
        assert_eq!(input_token_bound(&[]), 0);
        assert_eq!(
            input_token_bound(&["abc".into(), "é".into()]),
            3 + 2 + 2 + 2
        );
    }
}
