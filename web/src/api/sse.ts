// Server-sent events (text/event-stream, as the HTML standard parses it) read from a fetch body as it
// arrives. Only `event`, `data` and comments matter here: `id` and `retry` serve EventSource's
// reconnection, which a POST cannot use.

export interface ServerSentEvent {
  /** The `event:` name; `message` when the event has none. */
  event: string
  /** The `data:` lines, joined by line feeds. */
  data: string
}

export interface EventParser {
  /** Takes the next piece of text, cut anywhere, and returns the events it completes. */
  push: (text: string) => ServerSentEvent[]
  /** The end of the stream: a line ended by a last lone CR still counts; an unfinished event does not. */
  finish: () => ServerSentEvent[]
}

export function createEventParser(): EventParser {
  let unfinishedLine = ''
  let eventName = ''
  let dataLines: string[] = []

  function takeLine(line: string, events: ServerSentEvent[]) {
    if (line === '') {
      if (dataLines.length > 0) events.push({ event: eventName || 'message', data: dataLines.join('\n') })
      eventName = ''
      dataLines = []
      return
    }
    if (line.startsWith(':')) return // a comment, e.g. `: keep-alive`
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    const rawValue = colon === -1 ? '' : line.slice(colon + 1)
    const value = rawValue.startsWith(' ') ? rawValue.slice(1) : rawValue
    if (field === 'event') eventName = value
    else if (field === 'data') dataLines.push(value)
  }

  function push(text: string): ServerSentEvent[] {
    const buffer = unfinishedLine + text
    const events: ServerSentEvent[] = []
    let lineStart = 0
    for (let i = 0; i < buffer.length; i++) {
      const char = buffer[i]
      if (char !== '\n' && char !== '\r') continue
      // A CR as the last character may be the first half of a CRLF: wait for the next piece.
      if (char === '\r' && i === buffer.length - 1) break
      takeLine(buffer.slice(lineStart, i), events)
      if (char === '\r' && buffer[i + 1] === '\n') i++
      lineStart = i + 1
    }
    unfinishedLine = buffer.slice(lineStart)
    return events
  }

  return {
    push,
    finish: () => (unfinishedLine.endsWith('\r') ? push('\n') : []),
  }
}

/**
 * The events of a response body, as they arrive. Aborting `signal` cancels the body and throws its
 * reason (an AbortError), whether or not the body itself reacts to the abort.
 */
export async function* readEventStream(
  body: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<ServerSentEvent, void, undefined> {
  signal?.throwIfAborted()
  const reader = body.getReader()
  const cancel = () => {
    reader.cancel().catch(() => undefined)
  }
  signal?.addEventListener('abort', cancel, { once: true })
  const decoder = new TextDecoder()
  const parser = createEventParser()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      signal?.throwIfAborted()
      if (done) {
        yield* parser.push(decoder.decode())
        yield* parser.finish()
        return
      }
      yield* parser.push(decoder.decode(value, { stream: true }))
    }
  } finally {
    signal?.removeEventListener('abort', cancel)
    // Also when the reader of these events stops early: the connection is not needed any more.
    cancel()
  }
}
