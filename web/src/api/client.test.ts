import { describe, expect, it, vi } from 'vitest'
import { errorResponse, fakeFetch, jsonResponse, streamedTurn, turnDone } from '../test/fakeApi'
import { ApiError, createApiClient, type ApiEvent } from './client'
import { helixApi } from './helix'
import type { AvatarUpload } from './types'
import { uploadToPresignedUrl } from './upload'

function makeApi(token: string | null = 'token-123', baseUrl = '') {
  const client = createApiClient({ baseUrl, getToken: () => token })
  const events: ApiEvent[] = []
  client.subscribe((event) => events.push(event))
  return { api: helixApi(client), events }
}

const TURN = {
  engine: 'openai' as const,
  model: 'gpt-4o-mini',
  personalityId: 'helix-assistant',
  messages: [{ role: 'user' as const, content: 'hi' }],
}

async function allOf<T>(events: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = []
  for await (const event of events) all.push(event)
  return all
}

async function caught(promise: Promise<unknown>): Promise<ApiError> {
  const error: unknown = await promise.then(
    () => null,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(ApiError)
  return error as ApiError
}

describe('the API client', () => {
  it('sends the session token as a bearer header and returns the typed body', async () => {
    const fake = fakeFetch({ 'GET /v1/agents': () => jsonResponse(200, { agents: [], available_providers: [] }) })
    const { api } = makeApi('token-123')

    const answer = await api.listAgents()

    expect(answer.agents).toEqual([])
    expect(fake.calls[0]?.headers.get('authorization')).toBe('Bearer token-123')
  })

  it('prefixes every path with the configured API base URL', async () => {
    const fake = fakeFetch({ 'GET /healthz': () => jsonResponse(200, { status: 'ok', database: 'ok' }) })
    const { api } = makeApi(null, 'https://api.helix.example/')

    await api.health()

    expect(fake.fetchMock.mock.calls[0]?.[0]).toBe('https://api.helix.example/healthz')
  })

  it('signs in without a token, posting the passcode', async () => {
    const fake = fakeFetch({
      'POST /auth/verify': () =>
        jsonResponse(200, { token: 't', token_type: 'Bearer', expires_at: '2030-01-01T00:00:00Z', user: {} }),
    })
    const { api } = makeApi('stale-token')

    await api.verifyPasscode('helix-master-dev')

    expect(fake.calls[0]?.headers.get('authorization')).toBeNull()
    expect(fake.calls[0]?.body).toEqual({ passcode: 'helix-master-dev' })
  })

  it('asks for the turn streamed, with its Idempotency-Key header, and yields its events', async () => {
    const fake = fakeFetch({ 'POST /v1/turns': () => streamedTurn({ text: 'Hello there' }) })
    const { api } = makeApi()

    const events = await allOf(api.streamTurn(TURN, 'key-1', new AbortController().signal))

    expect(events.map((event) => event.type)).toEqual(['start', 'delta', 'delta', 'done'])
    expect(events.at(-1)).toEqual({ type: 'done', done: turnDone() })
    expect(fake.calls[0]?.headers.get('idempotency-key')).toBe('key-1')
    expect(fake.calls[0]?.headers.get('content-type')).toBe('application/json')
    expect(fake.calls[0]?.headers.get('accept')).toMatch(/^text\/event-stream/)
    expect(fake.calls[0]?.body).toEqual({ ...TURN, stream: true })
  })

  it('refuses a 2xx answer that is not an event stream, as an ApiError', async () => {
    fakeFetch({ 'POST /v1/turns': () => new Response('<html>hi</html>', { headers: { 'content-type': 'text/html' } }) })
    const { api } = makeApi()

    const error = await caught(allOf(api.streamTurn(TURN, 'key-1', new AbortController().signal)))

    expect(error).toMatchObject({ status: 200, code: 'not_an_event_stream' })
    expect(error.message).toContain('text/html')
  })

  it('passes ledger paging as query parameters', async () => {
    const fake = fakeFetch({ 'GET /v1/budget': () => jsonResponse(200, {}) })
    const { api } = makeApi()

    await api.getBudget({ limit: 20, cursor: 'abc=' })

    expect(fake.calls[0]?.path).toBe('/v1/budget?limit=20&cursor=abc%3D')
  })

  it('maps a 400 error body to an ApiError with its code, message, trace id and details', async () => {
    fakeFetch({
      'POST /v1/personas': () =>
        errorResponse(400, 'invalid_request', 'name: must be 1 to 80 characters', { field: 'name' }),
    })
    const { api, events } = makeApi()

    const error = await caught(api.createPersona({ name: '', prompt: 'p' }))

    expect(error).toMatchObject({
      status: 400,
      code: 'invalid_request',
      message: 'name: must be 1 to 80 characters',
      traceId: '1-trace-invalid_request',
      details: { field: 'name' },
    })
    expect(events).toEqual([])
  })

  it('reports a 401 on an authenticated call as the end of the session', async () => {
    fakeFetch({ 'GET /v1/agents': () => errorResponse(401, 'invalid_token', 'token expired') })
    const { api, events } = makeApi()

    const error = await caught(api.listAgents())

    expect(error.code).toBe('invalid_token')
    expect(events).toEqual([{ type: 'unauthorized', error }])
  })

  it('treats a 401 from sign-in as a wrong passcode, not an expired session', async () => {
    fakeFetch({ 'POST /auth/verify': () => errorResponse(401, 'invalid_passcode', 'wrong passcode') })
    const { api, events } = makeApi(null)

    const error = await caught(api.verifyPasscode('nope'))

    expect(error.code).toBe('invalid_passcode')
    expect(events).toEqual([])
  })

  it('reports a 402 as an exhausted budget, with the balance and the required amount', async () => {
    fakeFetch({
      'POST /v1/turns': () =>
        errorResponse(402, 'budget_exhausted', 'budget exhausted', { balance_cents: 0, required_cents: 3 }),
    })
    const { api, events } = makeApi()

    const error = await caught(allOf(api.streamTurn(TURN, 'k', new AbortController().signal)))

    expect(error.details).toEqual({ balance_cents: 0, required_cents: 3 })
    expect(events).toEqual([{ type: 'budget_exhausted', error }])
  })

  it('reads the Retry-After wait of a 429', async () => {
    fakeFetch({
      'POST /auth/verify': () =>
        errorResponse(429, 'too_many_attempts', 'too many attempts', {}, { 'retry-after': '120' }),
    })
    const { api } = makeApi(null)

    const error = await caught(api.verifyPasscode('x'))

    expect(error).toMatchObject({ status: 429, code: 'too_many_attempts', retryAfterSecs: 120 })
  })

  it('turns a 5xx without the API error body into a readable error with the trace id header', async () => {
    fakeFetch({
      'GET /v1/agents': () =>
        new Response('<html>Bad Gateway</html>', { status: 502, headers: { 'x-trace-id': '1-from-header' } }),
    })
    const { api } = makeApi()

    const error = await caught(api.listAgents())

    expect(error).toMatchObject({ status: 502, code: 'server_unavailable', traceId: '1-from-header' })
    expect(error.message).toMatch(/not answering/)
  })

  it('keeps the API message of a 5xx that has one', async () => {
    fakeFetch({ 'GET /v1/agents': () => errorResponse(503, 'database_unavailable', 'The database is unavailable') })
    const { api } = makeApi()

    const error = await caught(api.listAgents())

    expect(error).toMatchObject({ status: 503, code: 'database_unavailable', message: 'The database is unavailable' })
  })

  it('turns a network failure into a network_error', async () => {
    vi.stubGlobal('fetch', vi.fn(() => Promise.reject(new TypeError('Failed to fetch'))))
    const { api } = makeApi()

    const error = await caught(api.listAgents())

    expect(error).toMatchObject({ status: 0, code: 'network_error' })
  })

  it('returns nothing for a 204', async () => {
    fakeFetch({ 'DELETE /v1/personas/p%201': () => new Response(null, { status: 204 }) })
    const { api } = makeApi()

    await expect(api.deletePersona('p 1')).resolves.toBeUndefined()
  })

  it('asks for an avatar upload with the file type and size', async () => {
    const fake = fakeFetch({ 'POST /v1/personas/p%201/avatar': () => jsonResponse(200, { upload_url: 'x' }) })
    const { api } = makeApi()

    await api.requestAvatarUpload('p 1', { content_type: 'image/png', content_length: 1234 })

    expect(fake.calls[0]?.body).toEqual({ content_type: 'image/png', content_length: 1234 })
  })

  it('posts a grant and returns the new balance', async () => {
    const fake = fakeFetch({
      'POST /v1/budget/grants': () =>
        jsonResponse(201, { grant_id: 'g1', user_id: 'u-2', amount_cents: 500, balance_cents: 700 }),
    })
    const { api } = makeApi()

    const grant = await api.createGrant({ email: 'fnbo@helix.local', amount_cents: 500, reason: 'pilot' })

    expect(grant.balance_cents).toBe(700)
    expect(fake.calls[0]?.body).toEqual({ email: 'fnbo@helix.local', amount_cents: 500, reason: 'pilot' })
  })
})

describe('the presigned upload', () => {
  const upload: AvatarUpload = {
    upload_url: 'https://s3.example/avatars-b/avatars/u-1/p-1/o.png?X-Amz-Signature=abc',
    method: 'PUT',
    headers: { 'content-length': '4', 'content-type': 'image/png' },
    key: 'avatars/u-1/p-1/o.png',
    expires_at: '2030-01-01T00:00:00Z',
  }

  it('PUTs the file with the signed headers, leaving the browser its own and sending no token', async () => {
    const fake = fakeFetch({ 'PUT /avatars-b/avatars/u-1/p-1/o.png': () => new Response(null, { status: 200 }) })
    const file = new File(['\x89PNG'], 'me.png', { type: 'image/png' })

    await uploadToPresignedUrl(upload, file)

    const call = fake.calls[0]
    expect(call?.url).toBe(upload.upload_url)
    expect(call?.rawBody).toBe(file)
    expect(call?.headers.get('content-type')).toBe('image/png')
    expect(call?.headers.has('content-length')).toBe(false)
    expect(call?.headers.has('authorization')).toBe(false)
  })

  it("explains a refusal with S3's own message", async () => {
    fakeFetch({
      'PUT /avatars-b/avatars/u-1/p-1/o.png': () =>
        new Response(
          '<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>',
          { status: 403, headers: { 'content-type': 'application/xml' } },
        ),
    })

    const error = await caught(uploadToPresignedUrl(upload, new File(['x'], 'me.png', { type: 'image/png' })))

    expect(error).toMatchObject({ status: 403, code: 'upload_failed' })
    expect(error.message).toBe(
      'The avatar storage refused the upload (HTTP 403): Request has expired (AccessDenied). Try again.',
    )
  })
})

