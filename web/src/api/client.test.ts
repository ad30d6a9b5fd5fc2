import { describe, expect, it, vi } from 'vitest'
import { errorResponse, fakeFetch, jsonResponse, turn } from '../test/fakeApi'
import { ApiError, createApiClient, type ApiEvent } from './client'
import { helixApi } from './helix'

function makeApi(token: string | null = 'token-123', baseUrl = '') {
  const client = createApiClient({ baseUrl, getToken: () => token })
  const events: ApiEvent[] = []
  client.subscribe((event) => events.push(event))
  return { api: helixApi(client), events }
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
    const fake = fakeFetch({ 'GET /v1/agents': () => jsonResponse(200, { agents: [] }) })
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

  it('sends the turn with its Idempotency-Key header', async () => {
    const fake = fakeFetch({ 'POST /v1/turns': () => jsonResponse(200, turn()) })
    const { api } = makeApi()
    const body = {
      engine: 'openai' as const,
      model: 'gpt-4o-mini',
      personalityId: 'helix-assistant',
      messages: [{ role: 'user' as const, content: 'hi' }],
    }

    const answer = await api.createTurn(body, 'key-1')

    expect(answer.trace_id).toBe('1-abc-def')
    expect(fake.calls[0]?.headers.get('idempotency-key')).toBe('key-1')
    expect(fake.calls[0]?.headers.get('content-type')).toBe('application/json')
    expect(fake.calls[0]?.body).toEqual(body)
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

    const error = await caught(
      api.createTurn({ engine: 'openai', personalityId: 'x', messages: [{ role: 'user', content: 'hi' }] }, 'k'),
    )

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
})
