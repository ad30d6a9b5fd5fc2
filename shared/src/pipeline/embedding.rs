//! Embedding calls are charged like model calls: reserve the worst case, embed, settle the exact
//! cost as a ledger row of kind `embedding` (or release the hold on failure). A balance that
//! cannot pay is a 402 before anything is embedded.

use std::time::Instant;

use serde_json::json;

use super::{Billed, CallSpec, ChargeKind, details};
use crate::embedding::Embeddings;
use crate::usage::Usage;
use crate::{ApiError, AppState};

/// What an embedding call is for, in its ledger row and log line.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    Document,
    Search,
    TurnRetrieval,
    /// `POST /v1/embeddings`, the OpenAI-compatible route.
    Api,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Document => "memory_document",
            Purpose::Search => "memory_search",
            Purpose::TurnRetrieval => "turn_retrieval",
            Purpose::Api => "api_embeddings",
        }
    }
}

pub struct MeteredEmbeddings {
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
    pub request_id: &'a str,
    /// The API key the call came with (if any): its spend limit applies, its ledger row names it.
    pub api_key: Option<&'a crate::user::ApiKeyRef>,
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
) -> Result<MeteredEmbeddings, ApiError> {
    let embedder = state.embedders.embedder().await?;
    let (provider, model) = (embedder.provider().as_str(), embedder.model());
    let price =
        state
            .prices
            .embedding_price(provider, model)
            .map_err(|e| ApiError::Unavailable {
                code: "embedding_not_priced",
                message: e.to_string(),
            })?;
    let spec = CallSpec {
        user_id: payer.user_id,
        agent_id: None,
        trace_id: payer.trace_id,
        request_id: payer.request_id,
        kind: ChargeKind::Embedding,
        provider,
        model,
        price,
        price_table_version: state.prices.version(),
        input_bound: input_token_bound(texts),
        requested_max_tokens: 0,
        deadline: state.config.engines.retry.deadline,
        limits: state.config.call_limits,
        api_key: payer.api_key,
    };
    let metered = super::reserve(&state.db, spec).await?;

    let started = Instant::now();
    let row = |failed: bool| {
        details(json!({
            "purpose": purpose.as_str(), "texts": texts.len(),
            "dimensions": embedder.dimensions(), "failed": failed,
        }))
    };
    let billed = |input_tokens| {
        Billed::reported(Usage {
            input_tokens,
            ..Usage::default()
        })
    };
    let embeddings = match embedder.embed(texts).await {
        Ok(embeddings) => embeddings,
        Err(failure) if failure.billed_input_tokens > 0 => {
            // The batches before the failure were embedded, and billed by the provider.
            let charged = billed(failure.billed_input_tokens);
            metered.settle(&state.db, charged, row(true)).await?;
            return Err(failure.error.into());
        }
        Err(failure) => {
            metered.release(&state.db).await?;
            return Err(failure.error.into());
        }
    };
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let settled = metered
        .settle(&state.db, billed(embeddings.input_tokens), row(false))
        .await?;
    tracing::info!(
        user_id = %payer.user_id,
        engine = provider,
        provider,
        model = %model,
        purpose = purpose.as_str(),
        texts = texts.len(),
        input_tokens = embeddings.input_tokens,
        cost_micros = settled.cost_micros,
        latency_ms,
        "embedding call"
    );
    Ok(MeteredEmbeddings {
        embeddings,
        cost_micros: settled.cost_micros,
        cost_cents: settled.settlement.cost_cents,
        balance_micros: settled.settlement.balance_micros,
        balance_cents: settled.settlement.balance_cents,
    })
}

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
