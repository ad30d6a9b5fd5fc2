// @ts-check
// What the end-to-end tests put behind the real gateway, on one free port:
//  - an OpenAI-compatible provider (POST /v1/chat/completions, the real wire format with `usage`),
//    pointed to by HELIX_LOCAL_BASE_URL. Its answers are scripted by the last message (below).
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
 * @typedef {{ model: string, messages: WireMessage[], tools?: { function?: { name?: string } }[] }} ChatRequest
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

/**
 * The scripted provider. The last message decides:
 *  - a tool result → "Tool said: <results>";
 *  - "spend N output tokens" → a short answer that reports N completion tokens (to spend a budget);
 *  - "use the calculator" (when the calculator is offered) → a calculator tool call;
 *  - anything else → an echo of the message and of the start of the system prompt (the persona).
 * @param {ChatRequest} request
 */
function complete(request) {
  const messages = request.messages
  const last = messages.at(-1)
  const system = messages.find((m) => m.role === 'system')?.content ?? ''
  let completionTokens = COMPLETION_TOKENS
  /** @type {Record<string, unknown>} */
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
      completionTokens = Number(spend[1])
      message = { role: 'assistant', content: `Spent ${completionTokens} tokens.` }
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
        json(res, 200, complete(request))
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
