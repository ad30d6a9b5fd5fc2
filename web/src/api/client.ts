// One way to call the Helix API: open() adds the bearer token, parses the error body into an
// ApiError, and tells subscribers about a 401 (session over) or a 402 (budget exhausted); request<T>()
// also reads the JSON body.

/** An API failure as the app sees it: the HTTP status and the API's stable `code`, message and trace id. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly traceId: string | null
  /** Any other fields of the error body (`balance_cents`, `required_cents`, `retry_after_secs`, …). */
  readonly details: Readonly<Record<string, unknown>>
  /** Seconds to wait before trying again, from `Retry-After` or the body; null when not given. */
  readonly retryAfterSecs: number | null

  constructor(init: {
    status: number
    code: string
    message: string
    traceId?: string | null
    details?: Record<string, unknown>
    retryAfterSecs?: number | null
  }) {
    super(init.message)
    this.name = 'ApiError'
    this.status = init.status
    this.code = init.code
    this.traceId = init.traceId ?? null
    this.details = init.details ?? {}
    this.retryAfterSecs = init.retryAfterSecs ?? null
  }
}

export type ApiEvent =
  | { type: 'unauthorized'; error: ApiError }
  | { type: 'budget_exhausted'; error: ApiError }

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  body?: unknown
  query?: Record<string, string | number | undefined>
  headers?: Record<string, string>
  /** false for sign-in: no token is sent and a 401 there is a wrong passcode, not an expired session. */
  authenticated?: boolean
  signal?: AbortSignal
}

export interface ApiClientOptions {
  /** Where the API lives; '' means the page's own origin (the dev proxy, or CloudFront in front of both). */
  baseUrl: string
  getToken: () => string | null
}

export interface ApiClient {
  request: <T>(path: string, options?: RequestOptions) => Promise<T>
  /** The successful response itself, for a body read as it arrives (a streamed turn). */
  open: (path: string, options?: RequestOptions) => Promise<Response>
  subscribe: (listener: (event: ApiEvent) => void) => () => void
}

const NETWORK_ERROR_MESSAGE = 'Could not reach Helix. Check your connection and try again.'

export function createApiClient({ baseUrl, getToken }: ApiClientOptions): ApiClient {
  const listeners = new Set<(event: ApiEvent) => void>()
  const root = baseUrl.replace(/\/+$/, '')

  function emit(event: ApiEvent) {
    for (const listener of listeners) listener(event)
  }

  async function open(path: string, options: RequestOptions = {}): Promise<Response> {
    const { method = 'GET', body, query, authenticated = true, signal } = options
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers }
    if (body !== undefined) headers['content-type'] = 'application/json'
    const token = authenticated ? getToken() : null
    if (token) headers.authorization = `Bearer ${token}`

    let response: Response
    try {
      response = await fetch(root + path + queryString(query), {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        signal: signal ?? null,
      })
    } catch (cause) {
      if (cause instanceof DOMException && cause.name === 'AbortError') throw cause
      throw new ApiError({ status: 0, code: 'network_error', message: NETWORK_ERROR_MESSAGE })
    }

    if (!response.ok) {
      const error = await toApiError(response)
      if (response.status === 401 && authenticated) emit({ type: 'unauthorized', error })
      if (response.status === 402) emit({ type: 'budget_exhausted', error })
      throw error
    }
    return response
  }

  async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const response = await open(path, options)
    if (response.status === 204) return undefined as T
    // The API's contract (docs/openapi.json) is the type; the body is trusted to match it.
    return (await response.json()) as T
  }

  return {
    request,
    open,
    subscribe(listener) {
      listeners.add(listener)
      return () => {
        listeners.delete(listener)
      }
    },
  }
}

function queryString(query: RequestOptions['query']): string {
  if (!query) return ''
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(key, String(value))
  }
  const text = params.toString()
  return text ? `?${text}` : ''
}

async function toApiError(response: Response): Promise<ApiError> {
  const headerTraceId = response.headers.get('x-trace-id')
  const retryAfterHeader = Number.parseInt(response.headers.get('retry-after') ?? '', 10)
  const body = await readJson(response)
  const error = isRecord(body) && isRecord(body.error) ? body.error : null

  if (error && typeof error.code === 'string' && typeof error.message === 'string') {
    const { code, message, trace_id, ...details } = error
    const retryAfterBody = typeof details.retry_after_secs === 'number' ? details.retry_after_secs : null
    return new ApiError({
      status: response.status,
      code,
      message,
      traceId: typeof trace_id === 'string' ? trace_id : headerTraceId,
      details,
      retryAfterSecs: Number.isFinite(retryAfterHeader) ? retryAfterHeader : retryAfterBody,
    })
  }
  // Not the API's error shape: a proxy, a CDN or a crashed upstream answered.
  return new ApiError({
    status: response.status,
    code: response.status >= 500 ? 'server_unavailable' : 'http_error',
    message:
      response.status >= 500
        ? `Helix is not answering right now (HTTP ${response.status}). Try again in a moment.`
        : `The request failed (HTTP ${response.status}).`,
    traceId: headerTraceId,
    retryAfterSecs: Number.isFinite(retryAfterHeader) ? retryAfterHeader : null,
  })
}

async function readJson(response: Response): Promise<unknown> {
  try {
    return await response.json()
  } catch {
    return null
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
