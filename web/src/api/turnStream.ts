// A streamed turn: POST /v1/turns with "stream": true answers with server-sent events, typed here.
// What fails before the provider is called is still a plain JSON error, thrown by client.open as an
// ApiError (so a 402 locks the app as for any call). A retry the server already answered is replayed
// as the same events.
import { ApiError, type ApiClient } from './client'
import { readEventStream } from './sse'
import type { ToolCall, TurnDone, TurnFailure, TurnRequest, TurnStart } from './types'

export type TurnEvent =
  | { type: 'start'; start: TurnStart }
  /** The next piece of the answer's text. */
  | { type: 'delta'; text: string }
  /** One tool call, complete. */
  | { type: 'tool_call'; call: ToolCall }
  | { type: 'done'; done: TurnDone }
  /** The provider failed mid-answer: the last event. */
  | { type: 'error'; error: TurnFailure }

export async function* streamTurn(
  client: ApiClient,
  turn: TurnRequest,
  idempotencyKey: string,
  signal: AbortSignal,
): AsyncGenerator<TurnEvent, void, undefined> {
  const response = await client.open('/v1/turns', {
    method: 'POST',
    body: { ...turn, stream: true },
    headers: { accept: 'text/event-stream, application/json', 'idempotency-key': idempotencyKey },
    signal,
  })
  if (!isEventStream(response) || !response.body) {
    // Not the API: something between the app and Helix answered.
    throw new ApiError({
      status: response.status,
      code: 'not_an_event_stream',
      message: `Helix answered in a form this app cannot read (HTTP ${response.status}, ${response.headers.get('content-type') ?? 'no content type'}). Try again.`,
      traceId: response.headers.get('x-trace-id'),
    })
  }
  yield* readTurnEvents(response.body, signal)
}

/** The turn's events from an event-stream body, up to its `done` or `error`; unknown events are skipped. */
export async function* readTurnEvents(
  body: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<TurnEvent, void, undefined> {
  for await (const { event, data } of readEventStream(body, signal)) {
    const typed = toTurnEvent(event, data)
    if (!typed) continue
    yield typed
    if (typed.type === 'done' || typed.type === 'error') return
  }
}

// The API's contract (docs/openapi.json) is the type; each event's data is trusted to match it.
function toTurnEvent(name: string, data: string): TurnEvent | null {
  switch (name) {
    case 'start':
      return { type: 'start', start: JSON.parse(data) as TurnStart }
    case 'delta':
      return { type: 'delta', text: (JSON.parse(data) as { text: string }).text }
    case 'tool_call':
      return { type: 'tool_call', call: JSON.parse(data) as ToolCall }
    case 'done':
      return { type: 'done', done: JSON.parse(data) as TurnDone }
    case 'error':
      return { type: 'error', error: JSON.parse(data) as TurnFailure }
    default:
      return null
  }
}

function isEventStream(response: Response): boolean {
  return response.headers.get('content-type')?.toLowerCase().startsWith('text/event-stream') ?? false
}
