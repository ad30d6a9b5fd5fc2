// The official `openai` npm package, unmodified, against the real local gateway (scripts/openai-clients).
// Each check is a sentence; the first failure stops the run. The environment names the gateway, keys and model.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import OpenAI from 'openai'

const { version } = JSON.parse(readFileSync(new URL('./node_modules/openai/package.json', import.meta.url), 'utf8'))

const API = process.env.HELIX_API_URL
const MODEL = process.env.HELIX_MODEL
const client = new OpenAI({ baseURL: `${API}/v1`, apiKey: process.env.HELIX_API_KEY })
const say = (message) => console.log(`node openai ${version}: ${message}`)

async function helix(method, path, body) {
  const response = await fetch(`${API}${path}`, {
    method,
    headers: { authorization: `Bearer ${process.env.HELIX_JWT}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  return text ? JSON.parse(text) : null
}

/** The error `promise` rejects with; fails if it resolves. */
async function failure(promise) {
  try {
    await promise
  } catch (error) {
    return error
  }
  assert.fail('expected an error')
}

const models = []
for await (const model of client.models.list()) models.push(model.id)
assert.ok(models.includes(MODEL), models.join(', '))
const embeddingModel = models.find((id) => id.startsWith('local/') && id.toLowerCase().includes('minilm'))
assert.ok(embeddingModel, models.join(', '))
say('models.list() lists the agents’ models and the embedding model')

const { data: completion, response } = await client.chat.completions
  .create({ model: MODEL, messages: [{ role: 'user', content: 'Hello from node' }] })
  .withResponse()
assert.equal(completion.object, 'chat.completion')
assert.match(completion.choices[0].message.content, /^You said: \*\*Hello from node\*\*/)
assert.equal(completion.choices[0].finish_reason, 'stop')
assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens)
assert.equal(Number(response.headers.get('x-helix-cost-micros')), completion.helix.cost_micros)
say('a completion answers in OpenAI’s shape with usage and the x-helix headers')

const stream = await client.chat.completions.create({
  model: MODEL,
  messages: [{ role: 'user', content: 'Stream from node' }],
  stream: true,
  stream_options: { include_usage: true },
})
const chunks = []
for await (const chunk of stream) chunks.push(chunk)
const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')
assert.match(text, /^You said: \*\*Stream from node\*\*/)
const last = chunks.at(-1)
assert.deepEqual(last.choices, [])
assert.ok(last.usage.total_tokens > 0)
assert.ok(last.helix.cost_micros > 0)
say('a stream ends with the usage chunk and the cost')

const calculator = {
  type: 'function',
  function: {
    name: 'calculator',
    description: 'Evaluates an arithmetic expression',
    parameters: { type: 'object', properties: { expression: { type: 'string' } } },
  },
}
const asked = await client.chat.completions.create({
  model: MODEL,
  messages: [{ role: 'user', content: 'Please use the calculator' }],
  tools: [calculator],
})
const call = asked.choices[0].message.tool_calls[0]
assert.equal(asked.choices[0].finish_reason, 'tool_calls')
assert.deepEqual(JSON.parse(call.function.arguments), { expression: '6*7' })
const answered = await client.chat.completions.create({
  model: MODEL,
  messages: [
    { role: 'user', content: 'Please use the calculator' },
    asked.choices[0].message,
    { role: 'tool', tool_call_id: call.id, content: '42' },
  ],
  tools: [calculator],
})
assert.equal(answered.choices[0].message.content, `Tool said: ${call.id}=42`)
const runner = client.chat.completions.stream({
  model: MODEL,
  messages: [{ role: 'user', content: 'Please use the calculator' }],
  tools: [calculator],
})
const final = await runner.finalChatCompletion()
assert.equal(final.choices[0].message.tool_calls[0].function.name, 'calculator')
say('tool calls come back (whole and streamed) and the conversation goes on')

const embedded = await client.embeddings.create({ model: embeddingModel, input: ['a cat', 'a dog'] })
assert.equal(embedded.data.length, 2)
assert.equal(embedded.data[0].embedding.length, 384)
say('embeddings come back as floats')

const poor = new OpenAI({ baseURL: `${API}/v1`, apiKey: process.env.HELIX_POOR_API_KEY, maxRetries: 0 })
const exhausted = await failure(poor.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }))
assert.ok(exhausted instanceof OpenAI.APIError, String(exhausted))
assert.equal(exhausted.status, 402)
assert.equal(exhausted.code, 'budget_exhausted')
say('an exhausted budget is an APIError 402 budget_exhausted')

const created = await helix('POST', '/v1/keys', { name: 'node revoke me' })
const revokedClient = new OpenAI({ baseURL: `${API}/v1`, apiKey: created.key, maxRetries: 0 })
await revokedClient.models.list()
await helix('DELETE', `/v1/keys/${created.id}`)
const revoked = await failure(revokedClient.models.list())
assert.ok(revoked instanceof OpenAI.AuthenticationError, String(revoked))
assert.equal(revoked.code, 'invalid_api_key')
say('a revoked key is an AuthenticationError')

const unknown = await failure(client.chat.completions.create({ model: 'nope/nothing', messages: [{ role: 'user', content: 'hi' }] }))
assert.ok(unknown instanceof OpenAI.NotFoundError, String(unknown))
assert.equal(unknown.code, 'model_not_found')
say('an unknown model is a NotFoundError')

const impatient = new OpenAI({ baseURL: `${API}/v1`, apiKey: process.env.HELIX_API_KEY, maxRetries: 0 })
const settled = await Promise.allSettled(
  [1, 2, 3].map(() => impatient.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'count slowly' }] })),
)
const limited = settled.filter((s) => s.status === 'rejected').map((s) => s.reason)
assert.equal(limited.length, 1, String(limited))
assert.ok(limited[0] instanceof OpenAI.RateLimitError, String(limited[0]))
assert.ok(limited[0].headers.get('retry-after'))
say('too many calls at once is a RateLimitError with Retry-After')
