import { describe, expect, it } from 'vitest'
import { sseEvent, turnDone, turnStart } from '../test/fakeApi'
import { readTurnEvents, type TurnEvent } from './turnStream'

/** A body that hands out `chunks` one read at a time, and records whether it was cancelled. */
function chunked(chunks: string[], { close = true } = {}) {
  const encoder = new TextEncoder()
  const state = { cancelled: false }
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk))
      if (close) controller.close()
    },
    cancel() {
      state.cancelled = true
    },
  })
  return { body, state }
}

async function collect(events: AsyncIterable<TurnEvent>): Promise<TurnEvent[]> {
  const all: TurnEvent[] = []
  for await (const event of events) all.push(event)
  return all
}

const FAILURE = {
  code: 'provider_error',
  message: 'the model provider failed mid-answer',
  trace_id: '1-abc-def',
  charged: { micros: 520, cents: 0 },
  budget: { remaining_cents: 998, remaining_micros: 9_980_000 },
}

describe('the streamed turn reader', () => {
  it('types each event, with a chunk boundary in the middle of a data line and keep-alives between', async () => {
    const wire =
      sseEvent('start', turnStart()) +
      ': keep-alive\n\n' +
      sseEvent('delta', { text: 'Hel' }) +
      sseEvent('delta', { text: 'lo' }) +
      sseEvent('tool_call', { id: 'c1', name: 'search', arguments: { q: 'rust' } }) +
      ': keep-alive\n\n' +
      sseEvent('done', turnDone())
    const cut = wire.indexOf('"Hel') + 2
    const { body } = chunked([wire.slice(0, cut), wire.slice(cut, cut + 9), wire.slice(cut + 9)])

    expect(await collect(readTurnEvents(body))).toEqual([
      { type: 'start', start: turnStart() },
      { type: 'delta', text: 'Hel' },
      { type: 'delta', text: 'lo' },
      { type: 'tool_call', call: { id: 'c1', name: 'search', arguments: { q: 'rust' } } },
      { type: 'done', done: turnDone() },
    ])
  })

  it('reads CRLF line ends the same way', async () => {
    const wire = (sseEvent('start', turnStart()) + sseEvent('delta', { text: 'a\nb' })).replaceAll('\n\n', '\r\n\r\n')
    const { body } = chunked([wire])

    expect(await collect(readTurnEvents(body))).toEqual([
      { type: 'start', start: turnStart() },
      { type: 'delta', text: 'a\nb' },
    ])
  })

  it('ends at an error event, with what was charged, and reads no further', async () => {
    const { body, state } = chunked(
      [sseEvent('start', turnStart()) + sseEvent('delta', { text: 'Half an' }), sseEvent('error', FAILURE), sseEvent('delta', { text: 'never' })],
      { close: false },
    )

    const events = await collect(readTurnEvents(body))

    expect(events.map((event) => event.type)).toEqual(['start', 'delta', 'error'])
    expect(events.at(-1)).toEqual({ type: 'error', error: FAILURE })
    expect(state.cancelled).toBe(true)
  })

  it('skips events it does not know', async () => {
    const { body } = chunked([sseEvent('progress', { percent: 50 }) + sseEvent('delta', { text: 'x' })])

    expect(await collect(readTurnEvents(body))).toEqual([{ type: 'delta', text: 'x' }])
  })

  it('on abort throws an AbortError after the events so far, and cancels the body', async () => {
    const { body, state } = chunked([sseEvent('start', turnStart()), sseEvent('delta', { text: 'So far' })], { close: false })
    const controller = new AbortController()
    const seen: TurnEvent[] = []

    const reading = (async () => {
      for await (const event of readTurnEvents(body, controller.signal)) {
        seen.push(event)
        if (event.type === 'delta') controller.abort()
      }
    })()

    await expect(reading).rejects.toMatchObject({ name: 'AbortError' })
    expect(seen.map((event) => event.type)).toEqual(['start', 'delta'])
    expect(state.cancelled).toBe(true)
  })
})
