import { describe, expect, it } from 'vitest'
import { createEventParser, readEventStream, type ServerSentEvent } from './sse'

function parse(...pieces: string[]): ServerSentEvent[] {
  const parser = createEventParser()
  return [...pieces.flatMap((piece) => parser.push(piece)), ...parser.finish()]
}

function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder()
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(typeof chunk === 'string' ? encoder.encode(chunk) : chunk)
      controller.close()
    },
  })
}

async function collect(events: AsyncIterable<ServerSentEvent>): Promise<ServerSentEvent[]> {
  const all: ServerSentEvent[] = []
  for await (const event of events) all.push(event)
  return all
}

describe('the event-stream parser', () => {
  it('reads a named event with its data', () => {
    expect(parse('event: delta\ndata: {"text":"Hi"}\n\n')).toEqual([{ event: 'delta', data: '{"text":"Hi"}' }])
  })

  it('reads several events from one piece', () => {
    expect(parse('event: a\ndata: 1\n\nevent: b\ndata: 2\n\ndata: 3\n\n')).toEqual([
      { event: 'a', data: '1' },
      { event: 'b', data: '2' },
      { event: 'message', data: '3' },
    ])
  })

  it('puts an event back together when pieces cut its field name, its data line and its blank line', () => {
    expect(parse('eve', 'nt: delta\nda', 'ta: {"text":', '"Hel', 'lo"}\n', '\n')).toEqual([
      { event: 'delta', data: '{"text":"Hello"}' },
    ])
  })

  it('takes CRLF, LF and lone CR as line ends, also with a CRLF cut in two', () => {
    expect(parse('event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\r', 'event: c\r', '\ndata: 3\r', '\n\r\n')).toEqual([
      { event: 'a', data: '1' },
      { event: 'b', data: '2' },
      { event: 'c', data: '3' },
    ])
  })

  it('counts a lone CR at the very end of the stream as a line end', () => {
    expect(parse('data: last\r\r')).toEqual([{ event: 'message', data: 'last' }])
  })

  it('skips comment lines such as keep-alives, between and inside events', () => {
    expect(parse(': keep-alive\n\nevent: delta\n: still here\ndata: x\n\n:\n\n')).toEqual([{ event: 'delta', data: 'x' }])
  })

  it('joins multi-line data with line feeds, keeping empty lines and all but one leading space', () => {
    expect(parse('data: first\ndata:\ndata:  indented\ndata:tight\n\n')).toEqual([
      { event: 'message', data: 'first\n\n indented\ntight' },
    ])
  })

  it('ignores id, retry and unknown fields, and a blank line with no data before it', () => {
    expect(parse('id: 7\nretry: 1000\nfoo: bar\n\nevent: lonely\n\ndata\n\n')).toEqual([{ event: 'message', data: '' }])
  })

  it('drops an event the stream ends before finishing', () => {
    expect(parse('event: done\ndata: {"half":')).toEqual([])
  })
})

describe('reading an event-stream body', () => {
  it('decodes UTF-8 characters cut between chunks', async () => {
    const bytes = new TextEncoder().encode('data: “é”\n\n')
    const events = await collect(readEventStream(streamOf([bytes.slice(0, 7), bytes.slice(7, 9), bytes.slice(9)])))

    expect(events).toEqual([{ event: 'message', data: '“é”' }])
  })

  it('on abort cancels the body and throws the AbortError, even from a body that ignores the signal', async () => {
    let cancelled = false
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('data: first\n\n'))
      },
      cancel() {
        cancelled = true
      },
    })
    const controller = new AbortController()
    const events = readEventStream(body, controller.signal)

    expect((await events.next()).value).toEqual({ event: 'message', data: 'first' })
    const next = events.next()
    controller.abort()

    await expect(next).rejects.toMatchObject({ name: 'AbortError' })
    expect(cancelled).toBe(true)
  })

  it('cancels the body when its reader stops early', async () => {
    let cancelled = false
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('data: 1\n\ndata: 2\n\n'))
      },
      cancel() {
        cancelled = true
      },
    })

    for await (const event of readEventStream(body)) {
      expect(event.data).toBe('1')
      break
    }

    expect(cancelled).toBe(true)
  })
})
