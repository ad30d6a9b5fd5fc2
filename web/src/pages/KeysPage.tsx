// Keys: personal API keys for scripts and OpenAI clients. Create one (its secret is shown once, to
// copy), list them with what each has spent against its limit, and revoke (after a confirmation).
import { useId, useState, type SubmitEvent } from 'react'
import { useApi } from '../api/context'
import type { ApiKey, CreatedKey } from '../api/types'
import { ConfirmDelete } from '../ui/ConfirmDelete'
import { CopyButton } from '../ui/CopyButton'
import { ErrorMessage } from '../ui/ErrorMessage'
import { formatCents, formatDateTime, formatMicros, parseDollarsToCents } from '../ui/format'
import { useLoad } from '../ui/useLoad'

export function KeysPage() {
  const api = useApi()
  const keys = useLoad(async () => (await api.listKeys()).keys)
  const [created, setCreated] = useState<CreatedKey | null>(null)

  return (
    <div className="space-y-4">
      <h1 className="text-xl font-bold">API keys</h1>
      <p className="text-sm text-slate-700">
        A key acts as you on the API and from any OpenAI client (base URL <code>…/v1</code>), charged to your
        budget and, if you set one, capped by its own spend limit.
      </p>
      {created && (
        <NewKeyNotice
          created={created}
          onDone={() => {
            setCreated(null)
          }}
        />
      )}
      {keys.error !== null && <ErrorMessage error={keys.error} />}
      {keys.loading && !keys.data && <p role="status">Loading keys…</p>}
      {keys.data && keys.data.length === 0 && <p>You have no keys yet. Create one below.</p>}
      {keys.data && keys.data.length > 0 && (
        <ul aria-label="Your keys" className="divide-y divide-slate-100 rounded-lg bg-white shadow-sm">
          {keys.data.map((key) => (
            <KeyItem key={key.id} apiKey={key} onRevoked={keys.reload} />
          ))}
        </ul>
      )}
      <CreateKeyForm
        onCreated={(key) => {
          setCreated(key)
          keys.reload()
        }}
      />
    </div>
  )
}

/** The new key's secret, once: Helix keeps only its hash. */
function NewKeyNotice({ created, onDone }: { created: CreatedKey; onDone: () => void }) {
  return (
    <section aria-label="Your new key" className="space-y-2 rounded-lg border border-emerald-300 bg-emerald-50 p-3">
      <p className="font-medium">Copy your new key “{created.name}” now: it is shown only this once.</p>
      <p className="flex flex-wrap items-center gap-2">
        <code className="rounded bg-white px-2 py-1 text-sm break-all" aria-label="New key">
          {created.key}
        </code>
        <CopyButton value={created.key} label="Copy key" />
      </p>
      <button type="button" onClick={onDone} className="btn-secondary">
        I have copied it
      </button>
    </section>
  )
}

function spendLine(key: ApiKey): string {
  const spent = formatMicros(key.spent_micros)
  if (key.spend_limit_cents === null) return `${spent} spent · no limit`
  return `${spent} of ${formatCents(key.spend_limit_cents)} spent`
}

function KeyItem({ apiKey, onRevoked }: { apiKey: ApiKey; onRevoked: () => void }) {
  const api = useApi()
  const [confirming, setConfirming] = useState(false)
  const [kept, setKept] = useState(false)
  const [revoking, setRevoking] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const name = `key ${apiKey.name}`

  async function revoke() {
    setRevoking(true)
    setError(null)
    try {
      await api.revokeKey(apiKey.id)
      onRevoked()
    } catch (caught) {
      setError(caught)
      setRevoking(false)
    }
  }

  return (
    <li className="space-y-2 p-3">
      <div className="flex flex-wrap items-center gap-2">
        <div className="min-w-0 flex-1">
          <p className="font-medium break-all">
            {apiKey.name} · <code>{apiKey.prefix}…</code>
            {apiKey.expired && <span className="ml-2 text-sm text-red-700">expired</span>}
          </p>
          <p className="text-xs text-slate-600">{spendLine(apiKey)}</p>
          <p className="text-xs text-slate-600">
            created {formatDateTime(apiKey.created_at)} · last used{' '}
            {apiKey.last_used_at ? formatDateTime(apiKey.last_used_at) : 'never'}
            {apiKey.expires_at && ` · expires ${formatDateTime(apiKey.expires_at)}`}
          </p>
        </div>
        {!confirming && (
          <button
            type="button"
            onClick={() => {
              setConfirming(true)
            }}
            autoFocus={kept}
            aria-label={`Revoke ${name}`}
            className="btn-secondary"
          >
            Revoke
          </button>
        )}
      </div>
      {confirming && (
        <ConfirmDelete
          label={name}
          busy={revoking}
          onConfirm={() => void revoke()}
          onKeep={() => {
            setConfirming(false)
            setKept(true)
          }}
        >
          Revoke the key {apiKey.name}? Anything using it stops working at once; its usage stays on record.
        </ConfirmDelete>
      )}
      {error !== null && <ErrorMessage error={error} />}
    </li>
  )
}

function CreateKeyForm({ onCreated }: { onCreated: (key: CreatedKey) => void }) {
  const api = useApi()
  const nameId = useId()
  const limitId = useId()
  const [name, setName] = useState('')
  const [limit, setLimit] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const limitCents = limit.trim() === '' ? null : parseDollarsToCents(limit)
  const limitInvalid = limit.trim() !== '' && (limitCents === null || limitCents < 1)

  async function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault()
    if (!name.trim() || limitInvalid) return
    setBusy(true)
    setError(null)
    try {
      const key = await api.createKey({ name: name.trim(), spend_limit_cents: limitCents })
      setName('')
      setLimit('')
      onCreated(key)
    } catch (caught) {
      setError(caught)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form onSubmit={(event) => void submit(event)} className="space-y-3 rounded-lg bg-white p-3 shadow-sm sm:p-4">
      <h2 className="font-semibold">Create a key</h2>
      <div className="grid gap-3 sm:grid-cols-2">
        <div>
          <label htmlFor={nameId} className="label">
            Name
          </label>
          <input
            id={nameId}
            value={name}
            maxLength={100}
            onChange={(event) => {
              setName(event.target.value)
            }}
            placeholder="what uses it, e.g. nightly report"
            className="field mt-1"
          />
        </div>
        <div>
          <label htmlFor={limitId} className="label">
            Spend limit in dollars (optional)
          </label>
          <input
            id={limitId}
            value={limit}
            inputMode="decimal"
            aria-invalid={limitInvalid}
            onChange={(event) => {
              setLimit(event.target.value)
            }}
            placeholder="no limit"
            className="field mt-1"
          />
          {limitInvalid && <p className="mt-1 text-xs text-red-700">Enter an amount like 5 or 2.50.</p>}
        </div>
      </div>
      {error !== null && <ErrorMessage error={error} />}
      <button type="submit" disabled={busy || !name.trim() || limitInvalid} className="btn-primary">
        {busy ? 'Creating…' : 'Create key'}
      </button>
    </form>
  )
}
