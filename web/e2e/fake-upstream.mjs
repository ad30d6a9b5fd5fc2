// @ts-check
// What the end-to-end tests put behind the real gateway, on one free port:
//  - an OpenAI-compatible provider (POST /v1/chat/completions, the real wire format with `usage`),
//    pointed to by HELIX_LOCAL_BASE_URL. Its answers are scripted by the last message (below); with
//    `"stream": true` they come as OpenAI's chunked event stream, a piece at a time.
//  - an S3 bucket, path-style (AWS_ENDPOINT_URL), for the presigned avatar PUTs and GETs, with the
//    CORS answers a real bucket's CORS rule gives the web app's origin.
//  - GET /__e2e/chat-requests: what the provider was sent, for the tests to check.
// Usage: node e2e/fake-upstream.mjs [port]  (prints "fake upstream listening on <port>" when ready).
import { createServer } from 'node:http'

/** Fixed token counts, so each turn's cost is known: see scripts/e2e for the prices. */
export const PROMPT_TOKENS = 100
export const COMPLETION_TOKENS = 50

/**
 * @typedef {{ role: string, content?: string | null, tool_call_id?: string, tool_calls?: unknown[] }} WireMessage
 * @typedef {{ model: string, messages: WireMessage[], tools?: { function?: { name?: string } }[], stream?: boolean, max_tokens?: number }} ChatRequest
 * @typedef {{ id: string, type: 'function', function: { name: string, arguments: string } }} WireToolCall
 * @typedef {{ role: 'assistant', content: string | null, tool_calls?: WireToolCall[] }} AnswerMessage
 */

/** @type {ChatRequest[]} */
const chatRequests = []
/** @type {Map<string, { body: Buffer, contentType: string }>} */
const objects = new Map()

/**
 * The body of a chat completion request, if it has the shape OpenAI requires; else null.
 * @param {Buffer} body
 * @returns {ChatRequest | null}
 */
function parseChatRequest(body) {
  /** @type {unknown} */
  let value
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null) return null
  const request = /** @type {Partial<ChatRequest>} */ (value)
  const messagesValid =
    Array.isArray(request.messages) &&
    request.messages.length > 0 &&
    request.messages.every((m) => typeof m === 'object' && typeof m.role === 'string')
  if (typeof request.model !== 'string' || !messagesValid) return null
  return /** @type {ChatRequest} */ (request)
}

/** A streamed answer's pace: the pause before each piece, in ms. */
const PIECE_DELAYS_MS = [30, 55, 80]
/** "slowly": this many numbers, one piece each, so that a test can stop the answer part-way. */
const SLOW_COUNT = 60
const SLOW_DELAY_MS = 80

/**
 * The scripted provider. The last message decides:
 *  - a tool result → "Tool said: <results>";
 *  - "spend N output tokens" → a short answer that reports N completion tokens, at most the
 *    request's max_tokens (to spend a budget);
 *  - "use the calculator" (when the calculator is offered) → a calculator tool call;
 *  - "slowly" → counting to 60, then "The end." (streamed over about five seconds);
 *  - anything else → an echo of the message and of the start of the system prompt (the persona).
 * @param {ChatRequest} request
 */
function complete(request) {
  const messages = request.messages
  const last = messages.at(-1)
  const system = messages.find((m) => m.role === 'system')?.content ?? ''
  let completionTokens = COMPLETION_TOKENS
  /** @type {AnswerMessage} */
  let message
  if (last?.role === 'tool') {
    const results = messages
      .slice(messages.findLastIndex((m) => m.role !== 'tool') + 1)
      .map((m) => `${m.tool_call_id ?? '?'}=${m.content ?? ''}`)
    message = { role: 'assistant', content: `Tool said: ${results.join(', ')}` }
  } else {
    const text = last?.content ?? ''
    const spend = /spend (\d+) output tokens/i.exec(text)
    const offersCalculator = (request.tools ?? []).some((tool) => tool.function?.name === 'calculator')
    if (spend) {
      // As a real model: never more output than the request's max_tokens allows.
      completionTokens = Math.min(Number(spend[1]), request.max_tokens ?? Number.MAX_SAFE_INTEGER)
      message = { role: 'assistant', content: `Spent ${completionTokens} tokens.` }
    } else if (/slowly/i.test(text)) {
      const numbers = Array.from({ length: SLOW_COUNT }, (_, i) => String(i + 1))
      message = { role: 'assistant', content: `Counting slowly: ${numbers.join(', ')}. The end.` }
    } else if (/use the calculator/i.test(text) && offersCalculator) {
      message = {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_e2e_1',
            type: 'function',
            function: { name: 'calculator', arguments: JSON.stringify({ expression: '6*7' }) },
          },
        ],
      }
    } else {
      message = {
        role: 'assistant',
        content: `You said: **${text}**. My instructions begin: “${system.slice(0, 60)}”`,
      }
    }
  }
  return {
    id: `chatcmpl-e2e-${chatRequests.length}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: request.model,
    choices: [
      { index: 0, message, finish_reason: message.tool_calls ? 'tool_calls' : 'stop', logprobs: null },
    ],
    usage: {
      prompt_tokens: PROMPT_TOKENS,
      completion_tokens: completionTokens,
      total_tokens: PROMPT_TOKENS + completionTokens,
    },
  }
}

/**
 * The answer as OpenAI streams it (`stream: true`, `stream_options.include_usage`): `data:` lines
 * of chat.completion.chunk, the role first, the text a word at a time, tool calls as fragments keyed
 * by index, the finish_reason in the last choice, a chunk with no choices and the usage, `[DONE]`.
 * Stops writing when the caller hangs up (a stopped turn).
 * @param {import('node:http').ServerResponse} res
 * @param {ReturnType<typeof complete>} completion
 * @param {boolean} slow
 */
function stream(res, completion, slow) {
  const [choice] = completion.choices
  if (!choice) throw new Error('a completion has one choice')
  const { message, finish_reason } = choice
  /** @type {Record<string, unknown>[]} */
  const deltas = [{ role: 'assistant', content: message.tool_calls ? null : '' }]
  for (const word of message.content?.match(/\S+\s*/g) ?? []) deltas.push({ content: word })
  message.tool_calls?.forEach((call, index) => {
    const half = Math.ceil(call.function.arguments.length / 2)
    deltas.push({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] })
    for (const part of [call.function.arguments.slice(0, half), call.function.arguments.slice(half)]) {
      deltas.push({ tool_calls: [{ index, function: { arguments: part } }] })
    }
  })
  const chunk = (/** @type {Record<string, unknown>} */ fields) => ({
    id: completion.id,
    object: 'chat.completion.chunk',
    created: completion.created,
    model: completion.model,
    system_fingerprint: null,
    ...fields,
  })
  const chunks = [
    ...deltas.map((delta) => chunk({ choices: [{ index: 0, delta, logprobs: null, finish_reason: null }], usage: null })),
    chunk({ choices: [{ index: 0, delta: {}, logprobs: null, finish_reason }], usage: null }),
    chunk({ choices: [], usage: completion.usage }),
  ]

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  /** @type {NodeJS.Timeout | undefined} */
  let timer
  res.on('close', () => {
    clearTimeout(timer)
  })
  let next = 0
  const writeNext = () => {
    const piece = chunks[next++]
    if (!piece) {
      res.end('data: [DONE]\n\n')
      return
    }
    res.write(`data: ${JSON.stringify(piece)}\n\n`)
    timer = setTimeout(writeNext, slow ? SLOW_DELAY_MS : (PIECE_DELAYS_MS[next % PIECE_DELAYS_MS.length] ?? 0))
  }
  writeNext()
}

/**
 * @param {import('node:http').ServerResponse} res
 * @param {number} status
 * @param {unknown} body
 */
function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

/**
 * @param {import('node:http').ServerResponse} res
 * @param {number} status
 * @param {string} code
 * @param {string} message
 */
function s3Error(res, status, code, message) {
  res.writeHead(status, { 'content-type': 'application/xml', 'access-control-allow-origin': '*' })
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`)
}

const CONTENT_TYPES = /** @type {Record<string, string>} */ ({ png: 'image/png', jpg: 'image/jpeg', webp: 'image/webp' })

/**
 * S3, as far as presigned avatar URLs need it. A PUT must carry what the signature pins (the key's
 * image type and the exact length), as S3 would refuse it otherwise.
 * @param {import('node:http').IncomingMessage} req
 * @param {import('node:http').ServerResponse} res
 * @param {URL} url
 * @param {Buffer} body
 */
function s3(req, res, url, body) {
  if (req.method === 'OPTIONS') {
    res.writeHead(204, {
      'access-control-allow-origin': req.headers.origin ?? '*',
      'access-control-allow-methods': 'GET, PUT',
      'access-control-allow-headers': req.headers['access-control-request-headers'] ?? 'content-type',
      'access-control-max-age': '600',
    })
    res.end()
    return
  }
  const key = decodeURIComponent(url.pathname)
  const signed = url.searchParams.has('X-Amz-Signature')
  if (req.method === 'PUT') {
    if (!signed) {
      s3Error(res, 403, 'AccessDenied', 'Not a presigned request')
      return
    }
    const signedHeaders = url.searchParams.get('X-Amz-SignedHeaders')?.split(';') ?? []
    const expected = CONTENT_TYPES[key.split('.').at(-1) ?? '']
    if (!expected || !signedHeaders.includes('content-type') || req.headers['content-type'] !== expected) {
      s3Error(res, 403, 'SignatureDoesNotMatch', `content-type must be ${String(expected)}`)
      return
    }
    if (Number(req.headers['content-length']) !== body.length) {
      s3Error(res, 403, 'SignatureDoesNotMatch', 'content-length does not match the body')
      return
    }
    objects.set(key, { body, contentType: expected })
    res.writeHead(200, { etag: `"${String(body.length)}"`, 'access-control-allow-origin': '*' })
    res.end()
    return
  }
  if (req.method === 'GET') {
    const object = objects.get(key)
    if (!signed) {
      s3Error(res, 403, 'AccessDenied', 'Not a presigned request')
      return
    }
    if (!object) {
      s3Error(res, 404, 'NoSuchKey', 'The specified key does not exist.')
      return
    }
    res.writeHead(200, { 'content-type': object.contentType, 'content-length': object.body.length })
    res.end(object.body)
    return
  }
  if (req.method === 'DELETE') {
    objects.delete(key)
    res.writeHead(204)
    res.end()
    return
  }
  s3Error(res, 405, 'MethodNotAllowed', 'The specified method is not allowed')
}

const server = createServer((req, res) => {
  /** @type {Buffer[]} */
  const chunks = []
  req.on('data', (/** @type {Buffer} */ chunk) => {
    chunks.push(chunk)
  })
  req.on('end', () => {
    const body = Buffer.concat(chunks)
    const url = new URL(req.url ?? '/', 'http://fake-upstream')
    if (url.pathname === '/v1/chat/completions' && req.method === 'POST') {
      const request = parseChatRequest(body)
      if (request) {
        chatRequests.push(request)
        const completion = complete(request)
        if (request.stream === true) stream(res, completion, /slowly/i.test(request.messages.at(-1)?.content ?? ''))
        else json(res, 200, completion)
      } else {
        json(res, 400, { error: { message: 'model and messages are required', type: 'invalid_request_error', code: null } })
      }
    } else if (url.pathname === '/__e2e/chat-requests' && req.method === 'GET') {
      json(res, 200, chatRequests)
    } else if (url.pathname.startsWith('/v1/')) {
      json(res, 404, { error: { message: `no route ${url.pathname}`, type: 'invalid_request_error', code: null } })
    } else {
      s3(req, res, url, body)
    }
  })
})

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  console.log(`fake upstream listening on ${String(port)}`)
})
for (const signal of /** @type {const} */ (['SIGTERM', 'SIGINT'])) {
  process.on(signal, () => {
    server.close()
    process.exit(0)
  })
}
