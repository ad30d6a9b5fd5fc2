// A fake Helix API behind a mocked fetch: routes answer with canned JSON, and every call is recorded.
import { vi } from 'vitest'
import type { Agent, Budget, LedgerEntry, Personality, Provider, ToolCall, TurnDone, TurnStart, User } from '../api/types'

export interface RecordedCall {
  method: string
  /** The origin too, for calls that leave the API (presigned S3 uploads). */
  url: string
  path: string
  headers: Headers
  /** The JSON body, parsed. */
  body: unknown
  /** The body as sent (a File for uploads). */
  rawBody: unknown
  signal: AbortSignal | null
}

type Handler = (call: RecordedCall) => Response | Promise<Response>

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  })
}

export function errorResponse(
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  return jsonResponse(status, { error: { code, message, trace_id: `1-trace-${code}`, ...extra } }, headers)
}

/** Installs a fetch that answers `"METHOD /path"` routes (query string ignored); unknown routes are 404. */
export function fakeFetch(routes: Record<string, Handler>) {
  const calls: RecordedCall[] = []
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input), 'http://localhost')
    const method = init?.method ?? 'GET'
    const call: RecordedCall = {
      method,
      url: url.href,
      path: url.pathname + url.search,
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
      rawBody: init?.body,
      signal: init?.signal ?? null,
    }
    calls.push(call)
    const handler = routes[`${method} ${url.pathname}`]
    return handler ? handler(call) : errorResponse(404, 'not_found', `No fake for ${method} ${url.pathname}`)
  })
  vi.stubGlobal('fetch', fetchMock)
  return { calls, fetchMock, callsTo: (method: string, path: string) => calls.filter((c) => c.method === method && c.path.split('?')[0] === path) }
}

/**
 * Object URLs, faked: URL.createObjectURL / revokeObjectURL give numbered `blob:preview-N` URLs and
 * record them (jsdom has none of its own). `restore` puts back whatever was there.
 */
export function stubObjectUrls() {
  const originals = {
    create: Object.getOwnPropertyDescriptor(URL, 'createObjectURL'),
    revoke: Object.getOwnPropertyDescriptor(URL, 'revokeObjectURL'),
  }
  const created: Blob[] = []
  const revoked: string[] = []
  Object.defineProperty(URL, 'createObjectURL', {
    configurable: true,
    value: (blob: Blob) => {
      created.push(blob)
      return `blob:preview-${created.length}`
    },
  })
  Object.defineProperty(URL, 'revokeObjectURL', {
    configurable: true,
    value: (url: string) => {
      revoked.push(url)
    },
  })
  return {
    created,
    revoked,
    restore: () => {
      for (const [name, original] of [
        ['createObjectURL', originals.create],
        ['revokeObjectURL', originals.revoke],
      ] as const) {
        if (original) Object.defineProperty(URL, name, original)
        else Reflect.deleteProperty(URL, name)
      }
    },
  }
}

export const USER: User = { id: 'u-1', email: 'master@helix.local', name: 'Master', role: 'admin', budget_cents: 1000 }
export const MEMBER: User = { id: 'u-2', email: 'fnbo@helix.local', name: null, role: 'user', budget_cents: 1000 }

export function signedIn(token = 'token-123', user: User = USER) {
  sessionStorage.setItem(
    'helix.session',
    JSON.stringify({ token, expiresAt: new Date(Date.now() + 3_600_000).toISOString(), user }),
  )
}

export const PERSONALITIES: Personality[] = [
  { id: 'code-reviewer', label: 'Code reviewer', avatar: '🧐', kind: 'preset', toolWhitelist: [] },
  { id: 'helix-assistant', label: 'Helix assistant', avatar: '🤖', kind: 'preset', toolWhitelist: ['search'] },
  { id: 'p-42', label: 'Pirate', avatar: 'https://avatars.example/p-42.png', kind: 'persona', toolWhitelist: [] },
]

export function agent(overrides: Partial<Agent>): Agent {
  return {
    id: 'a-openai',
    provider: 'openai',
    model: 'gpt-4o-mini',
    status: 'active',
    created_at: '2025-01-01T00:00:00Z',
    updated_at: '2025-01-01T00:00:00Z',
    ...overrides,
  }
}

export function budget(overrides: Partial<Budget> = {}): Budget {
  return {
    balance_cents: 1000,
    balance_micros: 10_000_000,
    spent_cents_this_month: 0,
    spent_micros_this_month: 0,
    open_holds: { count: 0, micros: 0 },
    period: {
      kind: 'monthly',
      time_zone: 'UTC',
      key: 'monthly:2025-03-01',
      start: '2025-03-01T00:00:00Z',
      end: '2025-04-01T00:00:00Z',
    },
    spent_cents_this_period: 0,
    spent_micros_this_period: 0,
    allowance: null,
    next_refill_at: null,
    spend_cap_cents: null,
    spend_cap_micros: null,
    limits: { max_calls_in_flight: 8, max_calls_per_minute: 120, max_tokens_per_minute: null, alert_threshold_percent: 80 },
    alerts: [],
    ledger: [],
    next_cursor: null,
    ...overrides,
  }
}

/** Everything a streamed turn tells: its `start`, its text and tool calls, its `done`. */
export type TurnFixture = TurnStart & TurnDone & { text: string; tool_calls: ToolCall[] }

export function turn(overrides: Partial<TurnFixture> = {}): TurnFixture {
  return {
    text: 'Hello **there**',
    usage: { input_tokens: 12, output_tokens: 34 },
    tool_calls: [],
    cost: { micros: 1234, cents: 0 },
    budget: { remaining_cents: 987, remaining_micros: 9_870_000 },
    engine: 'openai',
    model: 'gpt-4o-mini',
    personality_id: 'helix-assistant',
    trace_id: '1-abc-def',
    max_tokens: 1024,
    max_tokens_reduced: false,
    usage_estimated: false,
    finish_reason: overrides.tool_calls?.length ? 'tool_calls' : 'stop',
    memory_doc_ids: [],
    ...overrides,
  }
}

/** One server-sent event as the API writes it. */
export function sseEvent(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`
}

export function eventStreamResponse(body: string | ReadableStream<Uint8Array>): Response {
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } })
}

export function turnStart(overrides: Partial<TurnFixture> = {}): TurnStart {
  const { trace_id, engine, model, personality_id, max_tokens, max_tokens_reduced } = turn(overrides)
  return { trace_id, engine, model, personality_id, max_tokens, max_tokens_reduced }
}

export function turnDone(overrides: Partial<TurnFixture> = {}): TurnDone {
  const { usage, cost, budget, usage_estimated, finish_reason, memory_doc_ids } = turn(overrides)
  return { usage, cost, budget, usage_estimated, finish_reason, memory_doc_ids }
}

/** The turn `turn(overrides)` describes, streamed: start, its text a word at a time, its tool calls, done. */
export function streamedTurn(overrides: Partial<TurnFixture> = {}): Response {
  const { text, tool_calls } = turn(overrides)
  const pieces = text.match(/\S+\s*|\s+/g) ?? []
  return eventStreamResponse(
    [
      sseEvent('start', turnStart(overrides)),
      ...pieces.map((piece) => sseEvent('delta', { text: piece })),
      ...tool_calls.map((call) => sseEvent('tool_call', call)),
      sseEvent('done', turnDone(overrides)),
    ].join(''),
  )
}

/**
 * An event-stream answer the test writes to as it goes. `cancelled` turns true when the reader
 * cancels it (as the app does on Stop).
 */
export function openStream() {
  const encoder = new TextEncoder()
  let controller: ReadableStreamDefaultController<Uint8Array> | null = null
  const state = { cancelled: false }
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c
    },
    cancel() {
      state.cancelled = true
    },
  })
  return {
    response: eventStreamResponse(body),
    write: (text: string) => controller?.enqueue(encoder.encode(text)),
    /** Ends the body without a `done`, as a dropped connection would. */
    close: () => controller?.close(),
    get cancelled() {
      return state.cancelled
    },
  }
}

export function ledgerEntry(overrides: Partial<LedgerEntry> = {}): LedgerEntry {
  return {
    id: 'l-1',
    created_at: '2025-01-01T00:00:00Z',
    agent_id: 'a-openai',
    kind: 'completion',
    provider: 'openai',
    model: 'gpt-4o-mini',
    input_tokens: 12,
    output_tokens: 3,
    cost_micros: 456,
    cost_cents: 0,
    trace_id: '1-abc-def',
    api_key_id: null,
    personality_id: 'helix-assistant',
    personality_name: 'Helix assistant',
    ...overrides,
  }
}

/** The routes every signed-in page loads, with sensible defaults. */
export function signedInRoutes(
  options: { balanceCents?: number; agents?: Agent[]; availableProviders?: Provider[] } = {},
): Record<string, Handler> {
  const balanceCents = options.balanceCents ?? 1000
  return {
    'GET /v1/budget': () => jsonResponse(200, budget({ balance_cents: balanceCents })),
    'GET /v1/personalities': () => jsonResponse(200, { personalities: PERSONALITIES }),
    'GET /v1/conversations': () => jsonResponse(200, { conversations: [], next_cursor: null }),
    'GET /v1/agents': () =>
      jsonResponse(200, {
        agents: options.agents ?? [
          agent({}),
          agent({ id: 'a-claude', provider: 'anthropic', model: 'claude-3-5-haiku' }),
          agent({ id: 'a-off', provider: 'bedrock', model: 'nova-lite', status: 'disabled' }),
        ],
        available_providers: options.availableProviders ?? ['openai', 'anthropic', 'bedrock', 'local'],
      }),
  }
}
