// Agents: which engines and models the caller may use; enable/disable, delete (after a confirmation),
// and add from the priced models.
import { useId, useState, type SubmitEvent } from 'react'
import { useApi } from '../api/context'
import type { Agent, Models, Provider } from '../api/types'
import { ErrorMessage } from '../ui/ErrorMessage'
import { ConfirmDelete } from '../ui/ConfirmDelete'
import { formatDateTime } from '../ui/format'
import { useLoad } from '../ui/useLoad'

export function AgentsPage() {
  const api = useApi()
  const agents = useLoad(async () => (await api.listAgents()).agents)
  const models = useLoad(() => api.listModels())
  const [busyId, setBusyId] = useState<string | null>(null)
  const [actionError, setActionError] = useState<unknown>(null)

  async function toggle(agent: Agent) {
    setBusyId(agent.id)
    setActionError(null)
    try {
      await api.updateAgent(agent.id, { status: agent.status === 'active' ? 'disabled' : 'active' })
      agents.reload()
    } catch (error) {
      setActionError(error)
    } finally {
      setBusyId(null)
    }
  }

  return (
    <div className="space-y-4">
      <h1 className="text-xl font-bold">Agents</h1>
      {agents.error !== null && <ErrorMessage error={agents.error} />}
      {actionError !== null && <ErrorMessage error={actionError} />}
      {agents.loading && !agents.data && <p role="status">Loading agents…</p>}
      {agents.data && agents.data.length === 0 && <p>You have no agents yet. Add one below.</p>}
      {agents.data && agents.data.length > 0 && (
        <ul aria-label="Your agents" className="divide-y divide-slate-100 rounded-lg bg-white shadow-sm">
          {agents.data.map((agent) => (
            <AgentItem
              key={agent.id}
              agent={agent}
              busy={busyId === agent.id}
              onToggle={() => void toggle(agent)}
              onDeleted={agents.reload}
            />
          ))}
        </ul>
      )}
      {models.error !== null && <ErrorMessage error={models.error} />}
      {models.data && <AddAgentForm models={models.data} onAdded={agents.reload} />}
    </div>
  )
}

function AgentItem({
  agent,
  busy,
  onToggle,
  onDeleted,
}: {
  agent: Agent
  busy: boolean
  onToggle: () => void
  onDeleted: () => void
}) {
  const api = useApi()
  const [confirming, setConfirming] = useState(false)
  // After "Keep it", the Delete button comes back focused, so the keyboard user is where they were.
  const [kept, setKept] = useState(false)
  const [deleting, setDeleting] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const name = `${agent.provider} ${agent.model}`

  async function remove() {
    setDeleting(true)
    setError(null)
    try {
      await api.deleteAgent(agent.id)
      onDeleted()
    } catch (caught) {
      setError(caught)
      setDeleting(false)
    }
  }

  return (
    <li className="space-y-2 p-3">
      <div className="flex flex-wrap items-center gap-2">
        <div className="min-w-0 flex-1">
          <p className="font-medium break-all">
            {agent.provider} · {agent.model}
          </p>
          <p className="text-xs text-slate-600">
            {agent.status === 'active' ? 'Active' : 'Disabled'} · updated {formatDateTime(agent.updated_at)}
          </p>
        </div>
        {!confirming && (
          <div className="flex gap-2">
            <button
              type="button"
              onClick={onToggle}
              disabled={busy}
              aria-label={`${agent.status === 'active' ? 'Disable' : 'Enable'} ${name}`}
              className="btn-secondary"
            >
              {agent.status === 'active' ? 'Disable' : 'Enable'}
            </button>
            <button
              type="button"
              onClick={() => {
                setConfirming(true)
              }}
              autoFocus={kept}
              disabled={busy}
              aria-label={`Delete ${name}`}
              className="btn-secondary"
            >
              Delete
            </button>
          </div>
        )}
      </div>
      {confirming && (
        <ConfirmDelete
          label={name}
          busy={deleting}
          onConfirm={() => void remove()}
          onKeep={() => {
            setConfirming(false)
            setKept(true)
          }}
        >
          Delete the agent {agent.provider} · {agent.model}? Chat can no longer use it; its usage stays on record.
          You can add it again later.
        </ConfirmDelete>
      )}
      {error !== null && <ErrorMessage error={error} />}
    </li>
  )
}

function AddAgentForm({ models, onAdded }: { models: Models; onAdded: () => void }) {
  const api = useApi()
  const providerId = useId()
  const modelId = useId()
  const [provider, setProvider] = useState<Provider | ''>('')
  const [model, setModel] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const [added, setAdded] = useState<string | null>(null)
  const entry = models.providers.find((p) => p.provider === provider)

  async function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault()
    if (!provider || !model.trim()) return
    setBusy(true)
    setError(null)
    setAdded(null)
    try {
      const agent = await api.createAgent({ provider, model: model.trim() })
      setAdded(`Added ${agent.provider} · ${agent.model}.`)
      setModel('')
      onAdded()
    } catch (caught) {
      setError(caught)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form onSubmit={(event) => void submit(event)} className="space-y-3 rounded-lg bg-white p-3 shadow-sm sm:p-4">
      <h2 className="font-semibold">Add an agent</h2>
      <div className="grid gap-3 sm:grid-cols-2">
        <div>
          <label htmlFor={providerId} className="label">
            Provider
          </label>
          <select
            id={providerId}
            value={provider}
            onChange={(event) => {
              setProvider(event.target.value as Provider | '')
              setModel('')
            }}
            className="field mt-1"
          >
            <option value="">Choose a provider</option>
            {models.providers.map((p) => (
              <option key={p.provider} value={p.provider}>
                {p.provider}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor={modelId} className="label">
            Model
          </label>
          {entry?.any_model ? (
            <input
              id={modelId}
              value={model}
              maxLength={200}
              onChange={(event) => {
                setModel(event.target.value)
              }}
              placeholder="any model your local server runs"
              className="field mt-1"
            />
          ) : (
            <select
              id={modelId}
              value={model}
              disabled={!entry}
              onChange={(event) => {
                setModel(event.target.value)
              }}
              className="field mt-1"
            >
              <option value="">Choose a model</option>
              {entry?.models.map((m) => (
                <option key={m.model} value={m.model}>
                  {m.model}
                </option>
              ))}
            </select>
          )}
        </div>
      </div>
      {error !== null && <ErrorMessage error={error} />}
      {added && <p role="status" className="text-sm text-emerald-800">{added}</p>}
      <button type="submit" disabled={busy || !provider || !model.trim()} className="btn-primary">
        {busy ? 'Adding…' : 'Add agent'}
      </button>
    </form>
  )
}
