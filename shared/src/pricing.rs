//! What a model call costs: the versioned price table (embedded, or replaced by config) and the
//! exact cost in integer micro-dollars, so that sums never drift and a 10-token call is never free.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use serde::Deserialize;

use crate::settings::{ConfigError, Sources, parse_or};
use crate::usage::Usage;

/// Prices are quoted per million tokens; this is the divisor the one rounding applies to.
const TOKENS_PER_MTOK: u128 = 1_000_000;

/// The table compiled into the binary; a config override replaces it wholesale.
const EMBEDDED_JSON: &str = include_str!("../pricing/prices.json");
const EMBEDDED_ORIGIN: &str = "embedded shared/pricing/prices.json";

/// Providers whose prices come from the table. `local` is absent on purpose: its price is config.
const LISTED_PROVIDERS: [&str; 3] = ["openai", "anthropic", "bedrock"];
const LOCAL_PROVIDER: &str = "local";

/// Micro-dollars per million tokens. `Default` is free, the default for local models.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input_per_mtok_micros: u64,
    pub cached_input_per_mtok_micros: u64,
    pub output_per_mtok_micros: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PricingError {
    #[error("model {model} is not in the pricing table for provider {provider}")]
    UnknownModel { provider: String, model: String },
    #[error("pricing table {origin}: {reason}")]
    InvalidTable { origin: String, reason: String },
}

#[derive(Debug, Clone)]
pub struct PriceTable {
    version: String,
    effective_date: String,
    /// provider → model → price; ordered so `models` lists them sorted without a sort.
    prices: BTreeMap<String, BTreeMap<String, Price>>,
    /// (provider, model) → input micro-dollars per million tokens.
    embedding_prices: BTreeMap<(String, String), u64>,
    local_price: Price,
}

/// The file's shape. Strict, so a typo in an override fails loudly instead of pricing at zero.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    version: String,
    effective_date: String,
    currency: String,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "provenance for people reading the file; accepted, never read"
    )]
    source: Option<String>,
    models: Vec<ModelRow>,
    /// Embedding models are priced apart, so they never appear as chat models for agents.
    #[serde(default)]
    embeddings: Vec<EmbeddingRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbeddingRow {
    provider: String,
    model: String,
    input_per_mtok_micros: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelRow {
    provider: String,
    model: String,
    input_per_mtok_micros: u64,
    cached_input_per_mtok_micros: u64,
    output_per_mtok_micros: u64,
}

impl PriceTable {
    /// The table the configuration asks for: the replacement file if one is set, else the embedded one.
    pub fn from_config(config: &PricingConfig) -> Result<Self, PricingError> {
        match &config.override_file {
            None => Self::embedded(config.local_price),
            Some(path) => {
                let origin = path.display().to_string();
                let json =
                    std::fs::read_to_string(path).map_err(|e| PricingError::InvalidTable {
                        origin: origin.clone(),
                        reason: format!("cannot be read: {e}"),
                    })?;
                Self::from_json(&origin, &json, config.local_price)
            }
        }
    }

    /// The table compiled into the binary (shared/pricing/prices.json), with `local` priced at
    /// `local_price`.
    pub fn embedded(local_price: Price) -> Result<Self, PricingError> {
        Self::from_json(EMBEDDED_ORIGIN, EMBEDDED_JSON, local_price)
    }

    /// A replacement table from JSON text (the config override); `origin` names it in errors.
    pub fn from_json(origin: &str, json: &str, local_price: Price) -> Result<Self, PricingError> {
        let invalid = |reason: String| PricingError::InvalidTable {
            origin: origin.to_owned(),
            reason,
        };
        let file: TableFile =
            serde_json::from_str(json).map_err(|e| invalid(format!("is not valid: {e}")))?;

        if file.version.trim().is_empty() {
            return Err(invalid("version is empty".into()));
        }
        if file.effective_date.trim().is_empty() {
            return Err(invalid("effective_date is empty".into()));
        }
        if file.currency != "USD" {
            return Err(invalid(format!(
                "currency is {:?}, but prices are micro-dollars so it must be \"USD\"",
                file.currency
            )));
        }
        if file.models.is_empty() {
            return Err(invalid("lists no models".into()));
        }

        let mut prices: BTreeMap<String, BTreeMap<String, Price>> = BTreeMap::new();
        let mut seen = HashSet::new();
        for row in file.models {
            let name = format!("{}/{}", row.provider, row.model);
            if row.provider == LOCAL_PROVIDER {
                return Err(invalid(format!(
                    "{name}: local models are priced by config, not by the table"
                )));
            }
            if !LISTED_PROVIDERS.contains(&row.provider.as_str()) {
                return Err(invalid(format!(
                    "{name}: unknown provider {:?} (expected one of {})",
                    row.provider,
                    LISTED_PROVIDERS.join(", ")
                )));
            }
            if row.model.trim().is_empty() {
                return Err(invalid(format!(
                    "a {} row has an empty model name",
                    row.provider
                )));
            }
            if !seen.insert(name.clone()) {
                return Err(invalid(format!("{name} is listed more than once")));
            }
            if row.cached_input_per_mtok_micros > row.input_per_mtok_micros {
                return Err(invalid(format!(
                    "{name}: cached input price {} is above the input price {}",
                    row.cached_input_per_mtok_micros, row.input_per_mtok_micros
                )));
            }
            prices.entry(row.provider).or_default().insert(
                row.model,
                Price {
                    input_per_mtok_micros: row.input_per_mtok_micros,
                    cached_input_per_mtok_micros: row.cached_input_per_mtok_micros,
                    output_per_mtok_micros: row.output_per_mtok_micros,
                },
            );
        }

        let mut embedding_prices = BTreeMap::new();
        for row in file.embeddings {
            let name = format!("{}/{}", row.provider, row.model);
            if !LISTED_PROVIDERS.contains(&row.provider.as_str()) {
                return Err(invalid(format!(
                    "embedding {name}: unknown provider {:?} (local embeddings are priced by config)",
                    row.provider
                )));
            }
            let key = (row.provider, row.model);
            if embedding_prices
                .insert(key, row.input_per_mtok_micros)
                .is_some()
            {
                return Err(invalid(format!(
                    "embedding {name} is listed more than once"
                )));
            }
        }

        Ok(PriceTable {
            version: file.version,
            effective_date: file.effective_date,
            prices,
            embedding_prices,
            local_price,
        })
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn effective_date(&self) -> &str {
        &self.effective_date
    }

    /// `local` → the local price for any model; otherwise the listed price or UnknownModel.
    /// An unlisted model is an error, never free: charging zero would leak money silently.
    pub fn price(&self, provider: &str, model: &str) -> Result<Price, PricingError> {
        if provider == LOCAL_PROVIDER {
            return Ok(self.local_price);
        }
        self.prices
            .get(provider)
            .and_then(|models| models.get(model))
            .copied()
            .ok_or_else(|| PricingError::UnknownModel {
                provider: provider.to_owned(),
                model: model.to_owned(),
            })
    }

    /// An embedding model's price (input tokens only). `local` costs the local input price; an
    /// unlisted model is an error, never free.
    pub fn embedding_price(&self, provider: &str, model: &str) -> Result<Price, PricingError> {
        if provider == LOCAL_PROVIDER {
            return Ok(Price {
                input_per_mtok_micros: self.local_price.input_per_mtok_micros,
                ..Price::default()
            });
        }
        self.embedding_prices
            .get(&(provider.to_owned(), model.to_owned()))
            .map(|&input| Price {
                input_per_mtok_micros: input,
                ..Price::default()
            })
            .ok_or_else(|| PricingError::UnknownModel {
                provider: provider.to_owned(),
                model: model.to_owned(),
            })
    }

    /// Models listed for a provider (sorted), for validating agents and for the web app's picker.
    /// Empty for `local`, which accepts any model name.
    pub fn models(&self, provider: &str) -> Vec<&str> {
        self.prices
            .get(provider)
            .map(|models| models.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The exact cost in micro-dollars of a call, rounded up to the next whole micro-dollar (never
    /// undercharge; at most 1 micro-dollar over). See [`cost_micros`].
    pub fn cost_micros(
        &self,
        provider: &str,
        model: &str,
        tokens: Usage,
    ) -> Result<i64, PricingError> {
        Ok(cost_micros(self.price(provider, model)?, tokens))
    }
}

/// Cost of `tokens` at `price`, in micro-dollars, rounded up: uncached input, cached input and
/// output each priced per million tokens, summed exactly before the one rounding.
///
/// u128 intermediates hold every product of two u64s; the result saturates at `i64::MAX`, since
/// Helix's money amounts are i64. If a provider reports more cached than input tokens, every reported
/// token is still charged: the cached ones at the cached rate, none at a negative count.
pub fn cost_micros(price: Price, tokens: Usage) -> i64 {
    let uncached_input = tokens
        .input_tokens
        .saturating_sub(tokens.cached_input_tokens);
    let micro_tokens = mul(uncached_input, price.input_per_mtok_micros)
        .saturating_add(mul(
            tokens.cached_input_tokens,
            price.cached_input_per_mtok_micros,
        ))
        .saturating_add(mul(tokens.output_tokens, price.output_per_mtok_micros));
    let micros = micro_tokens.div_ceil(TOKENS_PER_MTOK);
    i64::try_from(micros).unwrap_or(i64::MAX)
}

fn mul(tokens: u64, per_mtok_micros: u64) -> u128 {
    u128::from(tokens) * u128::from(per_mtok_micros)
}

/// Where prices come from: the table compiled in, or a replacement file; local models' price.
#[derive(Debug, Clone)]
pub struct PricingConfig {
    pub override_file: Option<PathBuf>,
    pub local_price: Price,
}

impl PricingConfig {
    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        Ok(PricingConfig {
            override_file: sources.get("HELIX_PRICING_FILE").map(PathBuf::from),
            local_price: Price {
                input_per_mtok_micros: parse_or(sources, "HELIX_LOCAL_INPUT_PER_MTOK_MICROS", 0)?,
                cached_input_per_mtok_micros: parse_or(
                    sources,
                    "HELIX_LOCAL_CACHED_INPUT_PER_MTOK_MICROS",
                    0,
                )?,
                output_per_mtok_micros: parse_or(sources, "HELIX_LOCAL_OUTPUT_PER_MTOK_MICROS", 0)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::MICROS_PER_CENT;

    const FREE: Price = Price {
        input_per_mtok_micros: 0,
        cached_input_per_mtok_micros: 0,
        output_per_mtok_micros: 0,
    };

    /// Every model Helix prices, with its list price in micro-dollars per million tokens.
    #[rustfmt::skip] // one row per model reads like the price sheet it is checked against
    const LIST_PRICES: [(&str, &str, u64, u64, u64); 24] = [
        ("openai", "gpt-4o", 2_500_000, 1_250_000, 10_000_000),
        ("openai", "gpt-4o-mini", 150_000, 75_000, 600_000),
        ("openai", "gpt-4.1", 2_000_000, 500_000, 8_000_000),
        ("openai", "gpt-4.1-mini", 400_000, 100_000, 1_600_000),
        ("openai", "gpt-4.1-nano", 100_000, 25_000, 400_000),
        ("openai", "o3", 2_000_000, 500_000, 8_000_000),
        ("openai", "o4-mini", 1_100_000, 275_000, 4_400_000),
        ("openai", "gpt-5", 1_250_000, 125_000, 10_000_000),
        ("openai", "gpt-5-mini", 250_000, 25_000, 2_000_000),
        ("openai", "gpt-5-nano", 50_000, 5_000, 400_000),
        ("anthropic", "claude-opus-4-1", 15_000_000, 1_500_000, 75_000_000),
        ("anthropic", "claude-opus-4-5", 5_000_000, 500_000, 25_000_000),
        ("anthropic", "claude-sonnet-4-5", 3_000_000, 300_000, 15_000_000),
        ("anthropic", "claude-sonnet-4-0", 3_000_000, 300_000, 15_000_000),
        ("anthropic", "claude-haiku-4-5", 1_000_000, 100_000, 5_000_000),
        ("anthropic", "claude-3-5-haiku-latest", 800_000, 80_000, 4_000_000),
        ("bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0", 800_000, 80_000, 4_000_000),
        ("bedrock", "anthropic.claude-haiku-4-5-20251001-v1:0", 1_000_000, 100_000, 5_000_000),
        ("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", 3_000_000, 300_000, 15_000_000),
        ("bedrock", "amazon.nova-micro-v1:0", 35_000, 8_750, 140_000),
        ("bedrock", "amazon.nova-lite-v1:0", 60_000, 15_000, 240_000),
        ("bedrock", "amazon.nova-pro-v1:0", 800_000, 200_000, 3_200_000),
        ("bedrock", "meta.llama3-1-8b-instruct-v1:0", 220_000, 220_000, 220_000),
        ("bedrock", "meta.llama3-1-70b-instruct-v1:0", 720_000, 720_000, 720_000),
    ];

    fn embedded() -> PriceTable {
        PriceTable::embedded(FREE).expect("the embedded table is valid")
    }

    fn tokens(input: u64, cached: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            cached_input_tokens: cached,
            output_tokens: output,
        }
    }

    fn invalid_reason(json: &str) -> String {
        match PriceTable::from_json("test.json", json, FREE) {
            Err(PricingError::InvalidTable { origin, reason }) => {
                assert_eq!(origin, "test.json");
                reason
            }
            other => panic!("expected InvalidTable, got {other:?}"),
        }
    }

    fn table_with_rows(rows: &str) -> String {
        format!(
            r#"{{"version": "v1", "effective_date": "2026-01-01", "currency": "USD", "models": [{rows}]}}"#
        )
    }

    const GPT_4O_MINI_ROW: &str = r#"{"provider": "openai", "model": "gpt-4o-mini", "input_per_mtok_micros": 150000, "cached_input_per_mtok_micros": 75000, "output_per_mtok_micros": 600000}"#;

    #[test]
    fn the_embedded_table_has_a_version_an_effective_date_and_every_list_price() {
        let table = embedded();

        assert!(!table.version().is_empty());
        assert!(!table.effective_date().is_empty());
        for (provider, model, input, cached, output) in LIST_PRICES {
            assert_eq!(
                table.price(provider, model),
                Ok(Price {
                    input_per_mtok_micros: input,
                    cached_input_per_mtok_micros: cached,
                    output_per_mtok_micros: output,
                }),
                "{provider}/{model}"
            );
        }
    }

    #[test]
    fn embedding_models_are_priced_apart_from_chat_models() {
        let table = embedded();
        let price = table
            .embedding_price("openai", "text-embedding-3-small")
            .unwrap();
        assert_eq!(price.input_per_mtok_micros, 20_000);
        assert_eq!(price.output_per_mtok_micros, 0);
        assert!(!table.models("openai").contains(&"text-embedding-3-small"));
        assert!(table.embedding_price("openai", "gpt-4o-mini").is_err());
        assert!(
            table
                .embedding_price("bedrock", "amazon.titan-embed-text-v2:0")
                .is_ok()
        );
        let local = PriceTable::embedded(Price {
            input_per_mtok_micros: 7,
            cached_input_per_mtok_micros: 0,
            output_per_mtok_micros: 9,
        })
        .unwrap();
        let price = local.embedding_price("local", "all-minilm-l6-v2").unwrap();
        assert_eq!(
            (price.input_per_mtok_micros, price.output_per_mtok_micros),
            (7, 0)
        );
    }

    #[test]
    fn the_embedded_table_lists_exactly_the_known_models_sorted() {
        let table = embedded();

        for provider in LISTED_PROVIDERS {
            let mut expected: Vec<&str> = LIST_PRICES
                .iter()
                .filter(|row| row.0 == provider)
                .map(|row| row.1)
                .collect();
            expected.sort_unstable();
            assert_eq!(table.models(provider), expected, "{provider}");
        }
        assert!(table.models("local").is_empty());
    }

    #[test]
    fn a_10_token_call_on_the_cheapest_model_costs_at_least_a_micro_and_far_less_than_a_cent() {
        let table = embedded();
        let (provider, model) = LISTED_PROVIDERS
            .iter()
            .flat_map(|p| table.models(p).into_iter().map(move |m| (*p, m)))
            .min_by_key(|(p, m)| {
                table
                    .price(p, m)
                    .map(|price| price.input_per_mtok_micros)
                    .ok()
            })
            .expect("the table lists models");

        let cost = table
            .cost_micros(provider, model, tokens(10, 0, 0))
            .unwrap();

        assert!(cost >= 1, "{provider}/{model} cost {cost}");
        assert!(
            cost < MICROS_PER_CENT / 100,
            "{provider}/{model} cost {cost}"
        );
    }

    #[test]
    fn a_million_input_and_a_million_output_tokens_on_gpt_4o_mini_cost_exactly_750_000_micros() {
        let cost = embedded()
            .cost_micros("openai", "gpt-4o-mini", tokens(1_000_000, 0, 1_000_000))
            .unwrap();

        assert_eq!(cost, 750_000);
    }

    #[test]
    fn cached_input_tokens_are_priced_at_the_cached_rate() {
        // 600_000 uncached at $0.15/M + 400_000 cached at $0.075/M = 90_000 + 30_000 micros.
        let cost = embedded()
            .cost_micros("openai", "gpt-4o-mini", tokens(1_000_000, 400_000, 0))
            .unwrap();

        assert_eq!(cost, 120_000);
    }

    #[test]
    fn cached_tokens_beyond_the_input_tokens_are_still_charged() {
        let price = embedded().price("openai", "gpt-4o-mini").unwrap();

        assert_eq!(cost_micros(price, tokens(0, 1_000_000, 0)), 75_000);
    }

    #[test]
    fn a_fraction_of_a_micro_rounds_up_to_the_next_whole_micro() {
        let half_a_micro_per_token = Price {
            input_per_mtok_micros: 500_000,
            ..FREE
        };

        assert_eq!(cost_micros(half_a_micro_per_token, tokens(1, 0, 0)), 1);
        assert_eq!(cost_micros(half_a_micro_per_token, tokens(3, 0, 0)), 2);
        assert_eq!(cost_micros(half_a_micro_per_token, tokens(4, 0, 0)), 2);
    }

    #[test]
    fn the_parts_are_summed_exactly_before_the_one_rounding() {
        // Each part is 0.4 micro; rounding each would charge 3, the exact sum is 1.2 → 2.
        let price = Price {
            input_per_mtok_micros: 400_000,
            cached_input_per_mtok_micros: 400_000,
            output_per_mtok_micros: 400_000,
        };

        assert_eq!(cost_micros(price, tokens(2, 1, 1)), 2);
    }

    #[test]
    fn zero_tokens_cost_nothing() {
        assert_eq!(
            embedded().cost_micros("anthropic", "claude-opus-4-1", Usage::default()),
            Ok(0)
        );
    }

    #[test]
    fn huge_token_counts_saturate_instead_of_overflowing() {
        let most_expensive = Price {
            input_per_mtok_micros: u64::MAX,
            cached_input_per_mtok_micros: u64::MAX,
            output_per_mtok_micros: u64::MAX,
        };

        assert_eq!(
            cost_micros(most_expensive, tokens(u64::MAX, u64::MAX / 2, u64::MAX)),
            i64::MAX
        );
        assert_eq!(
            embedded().cost_micros("anthropic", "claude-opus-4-1", tokens(0, 0, u64::MAX)),
            Ok(i64::MAX)
        );
    }

    #[test]
    fn an_unknown_model_is_an_error_for_every_listed_provider() {
        let table = embedded();

        for provider in LISTED_PROVIDERS {
            let expected = Err(PricingError::UnknownModel {
                provider: provider.to_owned(),
                model: "no-such-model".to_owned(),
            });
            assert_eq!(table.price(provider, "no-such-model"), expected);
            assert_eq!(
                table.cost_micros(provider, "no-such-model", tokens(10, 0, 10)),
                expected.map(|_: Price| 0)
            );
        }
    }

    #[test]
    fn an_unknown_provider_is_an_unknown_model() {
        assert!(matches!(
            embedded().price("mistral", "gpt-4o"),
            Err(PricingError::UnknownModel { .. })
        ));
    }

    #[test]
    fn local_models_are_free_by_default_and_any_name_is_accepted() {
        let table = embedded();

        assert_eq!(table.price("local", "llama3.2:3b"), Ok(FREE));
        assert_eq!(
            table.cost_micros("local", "anything-at-all", tokens(1_000_000, 0, 1_000_000)),
            Ok(0)
        );
    }

    #[test]
    fn local_models_cost_the_configured_local_price() {
        let local_price = Price {
            input_per_mtok_micros: 10_000,
            cached_input_per_mtok_micros: 5_000,
            output_per_mtok_micros: 20_000,
        };
        let table = PriceTable::embedded(local_price).unwrap();

        assert_eq!(table.price("local", "qwen3:8b"), Ok(local_price));
        assert_eq!(
            table.cost_micros("local", "qwen3:8b", tokens(1_000_000, 0, 1_000_000)),
            Ok(30_000)
        );
    }

    #[test]
    fn a_valid_override_replaces_the_embedded_table() {
        let json = r#"{"version": "v2", "effective_date": "2027-01-01", "currency": "USD", "source": "negotiated",
            "models": [{"provider": "openai", "model": "gpt-4o-mini", "input_per_mtok_micros": 100000, "cached_input_per_mtok_micros": 50000, "output_per_mtok_micros": 400000}]}"#;

        let table = PriceTable::from_json("override.json", json, FREE).unwrap();

        assert_eq!(table.version(), "v2");
        assert_eq!(table.effective_date(), "2027-01-01");
        assert_eq!(table.models("openai"), ["gpt-4o-mini"]);
        assert!(table.models("anthropic").is_empty());
        assert_eq!(
            table.cost_micros("openai", "gpt-4o-mini", tokens(1_000_000, 0, 0)),
            Ok(100_000)
        );
    }

    #[test]
    fn from_json_rejects_malformed_json() {
        let reason = invalid_reason(r#"{"version": "v1", "#);

        assert!(reason.contains("is not valid"), "{reason}");
    }

    #[test]
    fn from_json_rejects_a_table_without_models() {
        let reason = invalid_reason(&table_with_rows(""));

        assert!(reason.contains("no models"), "{reason}");
    }

    #[test]
    fn from_json_rejects_an_empty_version() {
        let json =
            table_with_rows(GPT_4O_MINI_ROW).replace(r#""version": "v1""#, r#""version": """#);

        let reason = invalid_reason(&json);

        assert!(reason.contains("version is empty"), "{reason}");
    }

    #[test]
    fn from_json_rejects_a_duplicate_model() {
        let reason = invalid_reason(&table_with_rows(&format!(
            "{GPT_4O_MINI_ROW}, {GPT_4O_MINI_ROW}"
        )));

        assert!(
            reason.contains("openai/gpt-4o-mini is listed more than once"),
            "{reason}"
        );
    }

    #[test]
    fn from_json_rejects_an_unknown_provider() {
        let reason = invalid_reason(&table_with_rows(
            &GPT_4O_MINI_ROW.replace(r#""openai""#, r#""mistral""#),
        ));

        assert!(reason.contains(r#"unknown provider "mistral""#), "{reason}");
    }

    #[test]
    fn from_json_rejects_local_rows_because_local_is_priced_by_config() {
        let reason = invalid_reason(&table_with_rows(
            &GPT_4O_MINI_ROW.replace(r#""openai""#, r#""local""#),
        ));

        assert!(
            reason.contains("local models are priced by config"),
            "{reason}"
        );
    }

    #[test]
    fn from_json_rejects_an_empty_model_name() {
        let reason = invalid_reason(&table_with_rows(
            &GPT_4O_MINI_ROW.replace(r#""gpt-4o-mini""#, r#""""#),
        ));

        assert!(reason.contains("empty model name"), "{reason}");
    }

    #[test]
    fn from_json_rejects_a_cached_price_above_the_input_price() {
        let reason = invalid_reason(&table_with_rows(&GPT_4O_MINI_ROW.replace(
            r#""cached_input_per_mtok_micros": 75000"#,
            r#""cached_input_per_mtok_micros": 150001"#,
        )));

        assert!(
            reason.contains("cached input price 150001 is above the input price 150000"),
            "{reason}"
        );
    }

    #[test]
    fn from_json_rejects_an_unknown_field() {
        let reason = invalid_reason(&table_with_rows(&GPT_4O_MINI_ROW.replace(
            r#""output_per_mtok_micros""#,
            r#""output_per_token_micros""#,
        )));

        assert!(
            reason.contains("unknown field `output_per_token_micros`"),
            "{reason}"
        );
    }

    #[test]
    fn from_json_rejects_a_currency_other_than_usd() {
        let json = table_with_rows(GPT_4O_MINI_ROW).replace(r#""USD""#, r#""EUR""#);

        let reason = invalid_reason(&json);

        assert!(reason.contains("must be \"USD\""), "{reason}");
    }

    #[test]
    fn the_configuration_can_replace_the_table_with_a_file() {
        let path = std::env::temp_dir().join(format!("helix-prices-{}.json", std::process::id()));
        let json = r#"{"version": "custom-1", "effective_date": "2026-12-01", "currency": "USD",
            "models": [{"provider": "openai", "model": "gpt-x", "input_per_mtok_micros": 1000000,
                        "cached_input_per_mtok_micros": 500000, "output_per_mtok_micros": 2000000}]}"#;
        std::fs::write(&path, json).unwrap();
        let config = PricingConfig {
            override_file: Some(path.clone()),
            local_price: Price::default(),
        };
        let table = PriceTable::from_config(&config).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(table.version(), "custom-1");
        assert_eq!(table.models("openai"), vec!["gpt-x"]);
        assert!(
            table.price("openai", "gpt-4o-mini").is_err(),
            "the file replaces the table"
        );

        let missing = PricingConfig {
            override_file: Some(path),
            local_price: Price::default(),
        };
        let error = PriceTable::from_config(&missing).unwrap_err().to_string();
        assert!(error.contains("cannot be read"), "{error}");
    }
}
