// One function per Helix endpoint the web app uses, typed by ./types (docs/openapi.json).
import type { ApiClient } from './client'
import { streamTurn } from './turnStream'
import type {
  Agent,
  Agents,
  ApiKeys,
  AvatarUpload,
  AvatarUploadRequest,
  Budget,
  BudgetQuery,
  Conversation,
  ConversationPage,
  ConversationQuery,
  ExportFormat,
  CreateAgent,
  CreatedKey,
  CreateKeyRequest,
  CreatePersona,
  Grant,
  GrantRequest,
  Health,
  Models,
  Personalities,
  Persona,
  PersonaPage,
  Policy,
  PolicyRequest,
  SummaryQuery,
  TurnRequest,
  UpdateAgent,
  UpdateConversation,
  UpdatePersona,
  UsageSummary,
  UserBudgetPage,
  VerifyResponse,
} from './types'

export type HelixApi = ReturnType<typeof helixApi>

export function helixApi(client: ApiClient) {
  const { request } = client
  const id = encodeURIComponent
  return {
    client,
    health: () => request<Health>('/healthz', { authenticated: false }),
    verifyPasscode: (passcode: string) =>
      request<VerifyResponse>('/auth/verify', {
        method: 'POST',
        body: { passcode },
        authenticated: false,
      }),
    /**
     * Ends `token` on the server (POST /auth/logout): it stops working at once, everywhere. Sent
     * unauthenticated with its own header, so an already-dead token's 401 is not "session expired".
     */
    signOut: (token: string) =>
      request<undefined>('/auth/logout', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        authenticated: false,
      }),
    /**
     * One charged turn, its answer streamed as TurnEvents; aborting `signal` stops it (what was
     * generated is still charged). The same idempotency key on a retry returns the first answer, charged once.
     */
    streamTurn: (turn: TurnRequest, idempotencyKey: string, signal: AbortSignal) =>
      streamTurn(client, turn, idempotencyKey, signal),
    listPersonalities: () => request<Personalities>('/v1/personalities'),
    listAgents: () => request<Agents>('/v1/agents'),
    listModels: () => request<Models>('/v1/agents/models'),
    createAgent: (agent: CreateAgent) => request<Agent>('/v1/agents', { method: 'POST', body: agent }),
    updateAgent: (agentId: string, change: UpdateAgent) =>
      request<Agent>(`/v1/agents/${id(agentId)}`, { method: 'PATCH', body: change }),
    deleteAgent: (agentId: string) =>
      request<undefined>(`/v1/agents/${id(agentId)}`, { method: 'DELETE' }),
    getBudget: (query: BudgetQuery = {}) => request<Budget>('/v1/budget', { query: { ...query } }),
    listPersonas: (query: { limit?: number; cursor?: string } = {}) =>
      request<PersonaPage>('/v1/personas', { query: { ...query } }),
    createPersona: (persona: CreatePersona) =>
      request<Persona>('/v1/personas', { method: 'POST', body: persona }),
    updatePersona: (personaId: string, change: UpdatePersona) =>
      request<Persona>(`/v1/personas/${id(personaId)}`, { method: 'PATCH', body: change }),
    deletePersona: (personaId: string) =>
      request<undefined>(`/v1/personas/${id(personaId)}`, { method: 'DELETE' }),
    /** A presigned PUT for a new avatar; send the file with uploadToPresignedUrl (./upload). */
    requestAvatarUpload: (personaId: string, upload: AvatarUploadRequest) =>
      request<AvatarUpload>(`/v1/personas/${id(personaId)}/avatar`, { method: 'POST', body: upload }),
    listConversations: ({ archived, ...query }: ConversationQuery = {}) =>
      request<ConversationPage>('/v1/conversations', {
        query: { ...query, archived: archived === undefined ? undefined : String(archived) },
      }),
    getConversation: (conversationId: string) => request<Conversation>(`/v1/conversations/${id(conversationId)}`),
    updateConversation: (conversationId: string, change: UpdateConversation) =>
      request<Conversation>(`/v1/conversations/${id(conversationId)}`, { method: 'PATCH', body: change }),
    deleteConversation: (conversationId: string) =>
      request<undefined>(`/v1/conversations/${id(conversationId)}`, { method: 'DELETE' }),
    /** The conversation as a file to download (Markdown or JSON). */
    exportConversation: async (conversationId: string, format: ExportFormat) => {
      const response = await client.open(`/v1/conversations/${id(conversationId)}/export`, { query: { format } })
      return response.blob()
    },
    listKeys: () => request<ApiKeys>('/v1/keys'),
    /** The answer holds the key's secret: show it once, never store it. */
    createKey: (key: CreateKeyRequest) => request<CreatedKey>('/v1/keys', { method: 'POST', body: key }),
    revokeKey: (keyId: string) => request<undefined>(`/v1/keys/${id(keyId)}`, { method: 'DELETE' }),
    /** Admins only: anyone else gets 403 admin_only. */
    createGrant: (grant: GrantRequest) => request<Grant>('/v1/budget/grants', { method: 'POST', body: grant }),
    getBudgetSummary: (query: SummaryQuery) =>
      request<UsageSummary>('/v1/budget/summary', { query: { ...query } }),
    /** The filtered ledger as CSV (the filters of getBudget), as a Blob to download. */
    exportLedgerCsv: async (query: Omit<BudgetQuery, 'limit' | 'cursor'> = {}) => {
      const response = await client.open('/v1/budget/export.csv', {
        query: { ...query },
        headers: { accept: 'text/csv' },
      })
      return response.blob()
    },
    /** Admins only, as the rest of /v1/admin. */
    listUserBudgets: (query: { limit?: number; cursor?: string } = {}) =>
      request<UserBudgetPage>('/v1/admin/users', { query: { ...query } }),
    getUserBudget: (userId: string, query: BudgetQuery = {}) =>
      request<Budget>(`/v1/admin/users/${id(userId)}/budget`, { query: { ...query } }),
    /** `userId` = 'default' sets the deployment default. */
    putPolicy: (userId: string, policy: PolicyRequest) =>
      request<Policy>(`/v1/admin/users/${id(userId)}/policy`, { method: 'PUT', body: policy }),
  }
}
