//! Pure reservation arithmetic: the worst case a call can cost, and how much output a balance can
//! still pay for. Integer micro-dollars throughout; no I/O.

use crate::chat::{CompletionInput, Message};
use crate::pricing::{Price, cost_micros};
use crate::provider::Provider;
use crate::settings::{ConfigError, Sources, invalid, parse_or};
use crate::usage::Usage;

/// The smallest output worth calling a model for; below it the caller is out of budget.
pub const MIN_OUTPUT_TOKENS: u32 = 16;
/// Chat templates wrap every message in role markers; this bounds them generously.
const TOKENS_PER_MESSAGE: u64 = 8;
const TOKENS_PER_CALL: u64 = 16;

/// An upper bound of the input tokens of a call. Byte-level BPE tokenizers never produce more
/// tokens than UTF-8 bytes, so bytes of everything sent plus template overhead is safe.
pub fn input_token_bound(input: &CompletionInput) -> u64 {
    let messages: u64 = input.messages.iter().map(message_token_bound).sum();
    let tools: u64 = input
        .tools
        .iter()
        .map(|t| {
            (t.name.len() + t.description.len() + t.parameters.to_string().len()) as u64
                + TOKENS_PER_MESSAGE
        })
        .sum();
    messages + tools + TOKENS_PER_CALL
}

/// One message's share of [`input_token_bound`]: what leaving it out of a call saves.
pub fn message_token_bound(m: &Message) -> u64 {
    let calls: usize = m
        .tool_calls
        .iter()
        .map(|c| c.name.len() + c.id.len() + c.arguments.to_string().len())
        .sum();
    let id = m.tool_call_id.as_ref().map_or(0, String::len);
    (m.content.len() + calls + id) as u64 + TOKENS_PER_MESSAGE
}

/// Tokens a provider adds to the input itself when tools are offered, which no byte count of what
/// Helix sends can see: Anthropic documents a tool-use system prompt of 313 to 346 tokens for its
/// Claude models (the same on Bedrock, where Claude is most of the catalogue); 512 covers it with
/// room. OpenAI-compatible servers render tools into the prompt from the JSON Helix counts.
pub const INJECTED_TOOL_PROMPT_TOKENS: u64 = 512;

pub fn injected_prompt_bound(provider: Provider, offers_tools: bool) -> u64 {
    match provider {
        Provider::Anthropic | Provider::Bedrock if offers_tools => INJECTED_TOOL_PROMPT_TOKENS,
        _ => 0,
    }
}

/// How many calls one user may have at once and per minute: one user must not occupy every
/// Lambda instance, nor hammer a provider. Checked and counted by the reservation itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    pub in_flight: u32,
    pub per_minute: u32,
}

impl CallLimits {
    pub const DEFAULT: CallLimits = CallLimits {
        in_flight: 8,
        per_minute: 120,
    };
    pub const UNLIMITED: CallLimits = CallLimits {
        in_flight: u32::MAX >> 1,
        per_minute: u32::MAX >> 1,
    };

    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let limits = CallLimits {
            in_flight: parse_or(
                sources,
                "HELIX_MAX_CALLS_IN_FLIGHT",
                Self::DEFAULT.in_flight,
            )?,
            per_minute: parse_or(
                sources,
                "HELIX_MAX_CALLS_PER_MINUTE",
                Self::DEFAULT.per_minute,
            )?,
        };
        let ceiling = Self::UNLIMITED.in_flight;
        if !(1..=ceiling).contains(&limits.in_flight) {
            return Err(invalid(
                "HELIX_MAX_CALLS_IN_FLIGHT",
                format!("must be 1 to {ceiling}"),
            ));
        }
        if !(1..=ceiling).contains(&limits.per_minute) {
            return Err(invalid(
                "HELIX_MAX_CALLS_PER_MINUTE",
                format!("must be 1 to {ceiling}"),
            ));
        }
        Ok(limits)
    }
}

/// The most a call can cost: every input token at the full input price, plus `max_tokens` output.
pub fn worst_case_micros(price: Price, input_bound: u64, max_tokens: u32) -> i64 {
    cost_micros(
        price,
        Usage {
            input_tokens: input_bound,
            cached_input_tokens: 0,
            output_tokens: u64::from(max_tokens),
        },
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub hold_micros: i64,
    pub max_tokens: u32,
    /// The balance could not pay for the requested `max_tokens`, so fewer were asked for.
    pub clamped: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Reserve(Reservation),
    /// Not even `MIN_OUTPUT_TOKENS` fit (or the balance is not positive): 402, no provider call.
    Exhausted {
        required_micros: i64,
    },
}

/// What to hold from `balance_micros` for a call: the full worst case if it fits, else the largest
/// `max_tokens` the balance pays for (never below `MIN_OUTPUT_TOKENS`). A balance <= 0 pays for
/// nothing, even for a free model.
pub fn plan_reservation(
    balance_micros: i64,
    price: Price,
    input_bound: u64,
    requested_max_tokens: u32,
) -> Plan {
    let full = worst_case_micros(price, input_bound, requested_max_tokens);
    let floor = requested_max_tokens.min(MIN_OUTPUT_TOKENS);
    let required_micros = worst_case_micros(price, input_bound, floor);
    if balance_micros <= 0 {
        return Plan::Exhausted { required_micros };
    }
    if full <= balance_micros {
        return Plan::Reserve(Reservation {
            hold_micros: full,
            max_tokens: requested_max_tokens,
            clamped: false,
        });
    }
    match affordable_output_tokens(balance_micros, price, input_bound) {
        Some(tokens) if tokens >= floor => {
            let max_tokens = tokens.min(requested_max_tokens);
            Plan::Reserve(Reservation {
                hold_micros: worst_case_micros(price, input_bound, max_tokens),
                max_tokens,
                clamped: true,
            })
        }
        _ => Plan::Exhausted { required_micros },
    }
}

/// The largest output `t` with ceil((input·p_in + t·p_out) / 1e6) <= balance, i.e.
/// t·p_out <= balance·1e6 − input·p_in. `None` when even the input does not fit.
fn affordable_output_tokens(balance_micros: i64, price: Price, input_bound: u64) -> Option<u32> {
    let budget = i128::from(balance_micros) * 1_000_000;
    let input_cost = i128::from(input_bound) * i128::from(price.input_per_mtok_micros);
    let left = budget - input_cost;
    if left < 0 {
        return None;
    }
    if price.output_per_mtok_micros == 0 {
        return Some(u32::MAX);
    }
    let tokens = left / i128::from(price.output_per_mtok_micros);
    Some(u32::try_from(tokens).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{Message, Role, ToolDefinition};

    #[test]
    fn providers_that_inject_a_tool_prompt_get_room_for_it_only_when_tools_are_offered() {
        for provider in [Provider::Anthropic, Provider::Bedrock] {
            assert_eq!(
                injected_prompt_bound(provider, true),
                INJECTED_TOOL_PROMPT_TOKENS
            );
            assert_eq!(injected_prompt_bound(provider, false), 0);
        }
        assert_eq!(injected_prompt_bound(Provider::OpenAi, true), 0);
        assert_eq!(injected_prompt_bound(Provider::Local, true), 0);
    }

    /// gpt-4o-mini: $0.15 in, $0.60 out per million tokens.
    const MINI: Price = Price {
        input_per_mtok_micros: 150_000,
        cached_input_per_mtok_micros: 75_000,
        output_per_mtok_micros: 600_000,
    };
    const FREE: Price = Price {
        input_per_mtok_micros: 0,
        cached_input_per_mtok_micros: 0,
        output_per_mtok_micros: 0,
    };

    #[test]
    fn the_input_bound_counts_bytes_and_template_overhead() {
        let input = CompletionInput {
            messages: vec![Message::new(Role::User, "héllo")],
            ..CompletionInput::default()
        };
        assert_eq!(input_token_bound(&input), 6 + 8 + 16, "é is two bytes");
        let with_tool = CompletionInput {
            tools: vec![ToolDefinition {
                name: "t".into(),
                description: "d".into(),
                parameters: serde_json::json!({}),
            }],
            ..input
        };
        assert_eq!(input_token_bound(&with_tool), 30 + 1 + 1 + 2 + 8);
    }

    #[test]
    fn a_balance_that_covers_the_worst_case_reserves_it_all() {
        let plan = plan_reservation(1_000_000, MINI, 1_000, 1_000);
        assert_eq!(
            plan,
            Plan::Reserve(Reservation {
                hold_micros: 150 + 600,
                max_tokens: 1_000,
                clamped: false
            })
        );
    }

    #[test]
    fn a_short_balance_lowers_max_tokens_to_what_it_covers() {
        // 1000 input tokens cost 150 micros; 450 micros are left for output: 750 tokens at 0.6 each.
        let plan = plan_reservation(600, MINI, 1_000, 4_000);
        assert_eq!(
            plan,
            Plan::Reserve(Reservation {
                hold_micros: 600,
                max_tokens: 750,
                clamped: true
            })
        );
    }

    #[test]
    fn the_clamped_hold_never_exceeds_the_balance() {
        for balance in [1_i64, 7, 99, 151, 160, 599, 601, 12_345] {
            if let Plan::Reserve(r) = plan_reservation(balance, MINI, 1_000, 100_000) {
                assert!(r.hold_micros <= balance, "{balance}: {r:?}");
                assert!(r.max_tokens >= MIN_OUTPUT_TOKENS);
                assert!(
                    worst_case_micros(MINI, 1_000, r.max_tokens + 1) > balance
                        || r.max_tokens == 100_000
                );
            }
        }
    }

    #[test]
    fn below_the_output_floor_the_budget_is_exhausted() {
        // 150 micros pay for the input only; 16 output tokens need 10 more.
        let plan = plan_reservation(155, MINI, 1_000, 1_000);
        assert_eq!(
            plan,
            Plan::Exhausted {
                required_micros: worst_case_micros(MINI, 1_000, MIN_OUTPUT_TOKENS)
            }
        );
        assert!(matches!(
            plan_reservation(100, MINI, 1_000, 1_000),
            Plan::Exhausted { .. }
        ));
    }

    #[test]
    fn a_balance_of_zero_or_less_pays_for_nothing_even_free_models() {
        assert!(matches!(
            plan_reservation(0, FREE, 10, 100),
            Plan::Exhausted { .. }
        ));
        assert!(matches!(
            plan_reservation(-5, MINI, 10, 100),
            Plan::Exhausted { .. }
        ));
        assert_eq!(
            plan_reservation(1, FREE, 10, 100),
            Plan::Reserve(Reservation {
                hold_micros: 0,
                max_tokens: 100,
                clamped: false
            })
        );
    }

    #[test]
    fn a_request_below_the_floor_is_kept_as_asked() {
        let plan = plan_reservation(1_000_000, MINI, 10, 4);
        assert_eq!(
            plan,
            Plan::Reserve(Reservation {
                hold_micros: worst_case_micros(MINI, 10, 4),
                max_tokens: 4,
                clamped: false
            })
        );
    }
}
