// Wire types of the Helix API, written to match docs/openapi.json (components.schemas).
// Field names stay as the API spells them (snake_case, and camelCase where the API uses it).

export type Provider = 'openai' | 'anthropic' | 'bedrock' | 'local'
export const PROVIDERS: readonly Provider[] = ['openai', 'anthropic', 'bedrock', 'local']

export type UserRole = 'user' | 'admin'

export interface User {
  id: string
  email: string
  name: string | null
  /** Admins may grant budget (POST /v1/budget/grants). */
  role: UserRole
  budget_cents: number
}

export interface VerifyRequest {
  passcode: string
}

export interface VerifyResponse {
  token: string
  token_type: 'Bearer'
  expires_at: string
  user: User
}

export interface ToolCall {
  id: string
  name: string
  arguments: Record<string, unknown>
}

export type MessageRole = 'system' | 'user' | 'assistant' | 'tool'

export interface Message {
  role: MessageRole
  content?: string
  tool_call_id?: string
  tool_calls?: ToolCall[]
}

export interface TurnRequest {
  engine: Provider
  model?: string
  personalityId: string
  messages: Message[]
  overrides?: { temperature?: number; max_tokens?: number }
  tools?: string[]
  /** true: the answer is a `text/event-stream` of TurnEvents (./turnStream) instead of one JSON body. */
  stream?: boolean
  /** Continue this stored conversation: `messages` are only the new ones. */
  conversation_id?: string
  /** Without conversation_id: store this turn as a new conversation. */
  save?: boolean
  /** With conversation_id and no messages: answer the last question again (the old answer stays a version). */
  regenerate?: boolean
  /** With conversation_id and one user message: a new version of this earlier question. */
  edit_message_id?: string
}

export interface TokenUsage {
  input_tokens: number
  output_tokens: number
}

export interface Cost {
  micros: number
  cents: number
}

export interface RemainingBudget {
  remaining_cents: number
  remaining_micros: number
}

/** A streamed turn's `start` event: who answers, within what limit, under which trace id. */
export interface TurnStart {
  trace_id: string
  engine: Provider
  model: string
  personality_id: string
  max_tokens: number
  max_tokens_reduced: boolean
  /** A saved turn's conversation. */
  conversation_id?: string
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'other'

/** A streamed turn's `done` event, sent once the charge is settled. */
export interface TurnDone {
  usage: TokenUsage
  cost: Cost
  budget: RemainingBudget
  /** The provider reported no usage: the tokens (and the cost) are an upper bound. */
  usage_estimated: boolean
  finish_reason: FinishReason
  memory_doc_ids: string[]
  /** A saved turn's conversation, its stored answer, and the stored messages left out to fit the budget. */
  conversation_id?: string
  message_id?: string
  history_omitted?: number
}

/** A streamed turn's `error` event: the provider failed mid-answer; what it generated was charged. */
export interface TurnFailure {
  code: string
  message: string
  trace_id: string | null
  charged: Cost
  /** The balance after the charge; absent when nothing was charged. */
  budget?: RemainingBudget
}

export interface Personality {
  id: string
  label: string
  /** An emoji for presets; an image URL (presigned, short-lived) for personas; or null. */
  avatar: string | null
  kind: 'preset' | 'persona'
  toolWhitelist: string[]
}

export interface Personalities {
  personalities: Personality[]
}

export type AgentStatus = 'active' | 'disabled'

export interface Agent {
  id: string
  provider: Provider
  model: string
  status: AgentStatus
  created_at: string
  updated_at: string
}

export interface Agents {
  agents: Agent[]
  /** Providers the deployment can call now (a key is set, or a local model); the chat's default. */
  available_providers: Provider[]
}

export interface CreateAgent {
  provider: Provider
  model: string
  status?: AgentStatus
}

export interface UpdateAgent {
  model?: string
  status?: AgentStatus
}

export interface PricedModel {
  model: string
  input_per_mtok_micros: number
  cached_input_per_mtok_micros: number
  output_per_mtok_micros: number
}

export interface Models {
  price_table_version: string
  providers: { provider: Provider; any_model: boolean; models: PricedModel[] }[]
}

export interface LedgerEntry {
  id: string
  created_at: string
  agent_id: string | null
  kind: 'completion' | 'embedding'
  provider: string | null
  model: string | null
  input_tokens: number
  output_tokens: number
  cost_micros: number
  cost_cents: number
  trace_id: string | null
  /** The personal API key that made the call, if one did. */
  api_key_id: string | null
  /** The preset or persona the call ran under; null for a call made without one. */
  personality_id: string | null
  /** Its display name (a preset's label, the persona's name, "Deleted persona (id)"); null with no personality. */
  personality_name: string | null
}

export type Period = 'daily' | 'weekly' | 'monthly'
export type RefillRule = 'top_up' | 'add'
export type AlertKind = 'allowance_threshold' | 'cap_threshold' | 'reconcile_drift' | 'provider_failures'

export interface BudgetAlert {
  id: string
  user_id: string | null
  kind: AlertKind
  /** What makes it once-only: the period (`monthly:2026-12-01`) or the window. */
  alert_key: string
  spent_micros: number | null
  limit_micros: number | null
  details: Record<string, unknown>
  created_at: string
}

export interface Budget {
  balance_cents: number
  balance_micros: number
  spent_cents_this_month: number
  spent_micros_this_month: number
  open_holds: { count: number; micros: number }
  /** The period the user's policy is in now (the calendar month in UTC without a policy). */
  period: { kind: Period; time_zone: string; key: string; start: string; end: string }
  spent_cents_this_period: number
  spent_micros_this_period: number
  allowance: {
    amount_cents: number
    amount_micros: number
    refill_rule: RefillRule
    rollover_cap_cents: number | null
    rollover_cap_micros: number | null
  } | null
  next_refill_at: string | null
  spend_cap_cents: number | null
  spend_cap_micros: number | null
  limits: {
    max_calls_in_flight: number
    max_calls_per_minute: number
    max_tokens_per_minute: number | null
    alert_threshold_percent: number
  }
  /** Alerts raised this period, newest first. */
  alerts: BudgetAlert[]
  ledger: LedgerEntry[]
  next_cursor: string | null
}

export type GroupBy = 'day' | 'model' | 'engine' | 'personality'
export type StackBy = 'model' | 'engine'

export interface UsageGroup {
  key: string
  stack: string | null
  /** With group_by=personality: the display name ("No personality" for the empty key); null otherwise. */
  name: string | null
  calls: number
  input_tokens: number
  output_tokens: number
  cost_micros: number
  cost_cents: number
}

export interface UsageSummary {
  from: string
  to: string
  group_by: GroupBy
  stack_by: StackBy | null
  time_zone: string
  groups: UsageGroup[]
  total: { calls: number; input_tokens: number; output_tokens: number; cost_micros: number; cost_cents: number }
}

export interface SummaryQuery {
  group_by: GroupBy
  stack_by?: StackBy
  from?: string
  to?: string
}

/** PUT /v1/admin/users/{id}/policy: a whole policy; absent fields take their defaults. */
export interface PolicyRequest {
  period?: Period
  time_zone?: string
  allowance_cents?: number
  refill_rule?: RefillRule
  rollover_cap_cents?: number
  spend_cap_cents?: number
  max_calls_in_flight?: number
  max_calls_per_minute?: number
  max_tokens_per_minute?: number
  alert_threshold_percent?: number
}

export interface Policy {
  user_id: string | null
  period: Period
  time_zone: string
  allowance_micros: number | null
  refill_rule: RefillRule
  rollover_cap_micros: number | null
  spend_cap_micros: number | null
  max_calls_in_flight: number | null
  max_calls_per_minute: number | null
  max_tokens_per_minute: number | null
  alert_threshold_percent: number
  configured_by: string | null
  updated_at: string
}

export interface UserBudget {
  id: string
  email: string
  role: 'user' | 'admin'
  created_at: string
  balance_micros: number
  balance_cents: number
  open_holds: number
  held_micros: number
  period_spent_micros: number
  period_spent_cents: number
  policy_source: 'user' | 'default' | 'none'
  period: Period
  time_zone: string
  allowance_micros: number | null
  refill_rule: RefillRule | null
  rollover_cap_micros: number | null
  spend_cap_micros: number | null
  max_calls_in_flight: number | null
  max_calls_per_minute: number | null
  max_tokens_per_minute: number | null
}

export interface UserBudgetPage {
  users: UserBudget[]
  next_cursor: string | null
  default_policy: Policy | null
}

/** The most an allowance or cap may be, in cents ($1,000,000). */
export const POLICY_MAX_CENTS = 100_000_000

export interface BudgetQuery {
  limit?: number
  cursor?: string
  agent_id?: string
  api_key_id?: string
  from?: string
  to?: string
}

export interface Persona {
  id: string
  name: string
  prompt: string
  avatar_url: string | null
  created_at: string
  updated_at: string
}

export interface PersonaPage {
  personas: Persona[]
  next_cursor: string | null
}

export interface CreatePersona {
  name: string
  prompt: string
}

export interface UpdatePersona {
  name?: string
  prompt?: string
}

/** The image types the API signs avatar uploads for (helix_shared::avatars::ALLOWED_IMAGE_TYPES). */
export const AVATAR_CONTENT_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const
export type AvatarContentType = (typeof AVATAR_CONTENT_TYPES)[number]
/** The API's default HELIX_AVATAR_MAX_BYTES (2 MiB); a server set lower still answers 400 with its limit. */
export const AVATAR_MAX_BYTES = 2 * 1024 * 1024

export interface AvatarUploadRequest {
  content_type: AvatarContentType
  content_length: number
}

/** A presigned S3 PUT: send the file with exactly `method` and `headers` before `expires_at`. */
export interface AvatarUpload {
  upload_url: string
  method: 'PUT'
  headers: Record<string, string>
  key: string
  expires_at: string
}

export interface GrantRequest {
  email: string
  amount_cents: number
  reason: string
}

export interface Grant {
  grant_id: string
  user_id: string
  amount_cents: number
  amount_micros: number
  reason: string
  granted_by: string
  balance_cents: number
  balance_micros: number
}

/** The API's limits on a grant (functions/budget: MAX_GRANT_CENTS, the reason's length). */
export const GRANT_MAX_CENTS = 100_000_000
export const GRANT_REASON_MAX = 500

/** Limits from the schema, shared by forms and their counters. */
export const PERSONA_NAME_MAX = 80
export const PERSONA_PROMPT_MAX = 32000
export const PASSCODE_MAX = 256

export interface Health {
  status: 'ok'
  database: 'ok'
}

/** A stored conversation as lists and pages show it (GET /v1/conversations…). */
export interface ConversationSummary {
  id: string
  title: string
  personality_id: string
  engine: Provider
  model: string
  pinned: boolean
  archived: boolean
  current_message_id: string | null
  message_count: number
  usage: TokenUsage
  /** Every answer's cost, every version counted. */
  cost: Cost
  last_message_at: string
  created_at: string
  updated_at: string
}

export interface ListedConversation extends ConversationSummary {
  /** With a search: the match, the matched words between « and ». */
  snippet: string | null
}

export interface ConversationPage {
  conversations: ListedConversation[]
  next_cursor: string | null
}

export type StoredStatus = 'complete' | 'stopped' | 'failed'

export interface StoredMessage {
  id: string
  parent_id: string | null
  role: MessageRole
  content: string
  tool_calls: ToolCall[]
  tool_call_id: string | null
  status: StoredStatus
  usage: TokenUsage | null
  cost: Cost
  trace_id: string | null
  created_at: string
  /** Every version of this message, oldest first; this one is at `version` (from 1). */
  versions: string[]
  version: number
}

export interface Conversation extends ConversationSummary {
  /** The active branch, first message first. */
  messages: StoredMessage[]
}

export interface ConversationQuery {
  limit?: number
  cursor?: string
  q?: string
  archived?: boolean
}

export interface UpdateConversation {
  title?: string
  pinned?: boolean
  archived?: boolean
  /** Switch to this version of a message. */
  active_message_id?: string
}

export type ExportFormat = 'markdown' | 'json'

/** The API's limit on a conversation's title. */
export const CONVERSATION_TITLE_MAX = 200
/** A personal API key as the Keys page lists it (never its secret). */
export interface ApiKey {
  id: string
  name: string
  prefix: string
  created_at: string
  last_used_at: string | null
  expires_at: string | null
  expired: boolean
  spend_limit_cents: number | null
  spent_micros: number
  spent_cents: number
  held_micros: number
}

export interface ApiKeys {
  keys: ApiKey[]
}

export interface CreateKeyRequest {
  name: string
  expires_at?: string | null
  spend_limit_cents?: number | null
}

/** A new key, with its secret: the only time Helix shows it. */
export interface CreatedKey {
  id: string
  name: string
  key: string
  prefix: string
  expires_at: string | null
  spend_limit_cents: number | null
  created_at: string
}
