// Personas: the caller's own personalities (a name, a system prompt, an avatar). Create, edit,
// delete, upload an avatar.
import { useId, useState, type SubmitEvent } from 'react'
import { useApi } from '../api/context'
import { PERSONA_NAME_MAX, PERSONA_PROMPT_MAX, type Persona } from '../api/types'
import { AvatarUploader } from '../personas/AvatarUploader'
import { Avatar } from '../ui/Avatar'
import { ErrorMessage } from '../ui/ErrorMessage'
import { CharacterCount } from '../ui/CharacterCount'
import { ConfirmDelete } from '../ui/ConfirmDelete'
import { formatDateTime } from '../ui/format'
import { useLoad } from '../ui/useLoad'

const PAGE_SIZE = 100

export function PersonasPage() {
  const api = useApi()
  const personas = useLoad(() => api.listPersonas({ limit: PAGE_SIZE }))
  const [editingId, setEditingId] = useState<string | null>(null)

  return (
    <div className="space-y-4">
      <h1 className="text-xl font-bold">Personas</h1>
      <p className="text-sm text-slate-600">
        A persona is your own personality for the chat: its prompt becomes the system prompt.
      </p>
      {personas.error !== null && <ErrorMessage error={personas.error} />}
      {personas.loading && !personas.data && <p role="status">Loading personas…</p>}
      {personas.data && personas.data.personas.length === 0 && <p>You have no personas yet.</p>}
      {personas.data && personas.data.personas.length > 0 && (
        <ul aria-label="Your personas" className="space-y-2">
          {personas.data.personas.map((persona) =>
            editingId === persona.id ? (
              <li key={persona.id} className="rounded-lg bg-white p-3 shadow-sm">
                <PersonaForm
                  persona={persona}
                  onDone={() => {
                    setEditingId(null)
                    personas.reload()
                  }}
                  onCancel={() => {
                    setEditingId(null)
                  }}
                />
              </li>
            ) : (
              <PersonaItem
                key={persona.id}
                persona={persona}
                onEdit={() => {
                  setEditingId(persona.id)
                }}
                onDeleted={personas.reload}
                onAvatarUploaded={personas.reload}
              />
            ),
          )}
        </ul>
      )}
      {personas.data?.next_cursor && (
        <p className="text-sm text-slate-600">Showing your newest {PAGE_SIZE} personas.</p>
      )}
      <section className="rounded-lg bg-white p-3 shadow-sm sm:p-4">
        <h2 className="font-semibold">New persona</h2>
        <PersonaForm persona={null} onDone={personas.reload} />
      </section>
    </div>
  )
}

function PersonaItem({
  persona,
  onEdit,
  onDeleted,
  onAvatarUploaded,
}: {
  persona: Persona
  onEdit: () => void
  onDeleted: () => void
  onAvatarUploaded: () => void
}) {
  const api = useApi()
  const avatarPanelId = useId()
  const [changingAvatar, setChangingAvatar] = useState(false)
  const [confirming, setConfirming] = useState(false)
  // After "Keep it", the Delete button comes back focused, so the keyboard user is where they were.
  const [kept, setKept] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)

  async function remove() {
    setBusy(true)
    setError(null)
    try {
      await api.deletePersona(persona.id)
      onDeleted()
    } catch (caught) {
      setError(caught)
      setBusy(false)
    }
  }

  return (
    <li className="space-y-2 rounded-lg bg-white p-3 shadow-sm">
      <div className="flex flex-wrap items-start gap-3">
        <Avatar image={persona.avatar_url} label={persona.name} size="lg" />
        <div className="min-w-0 flex-1">
          <p className="font-medium break-words">{persona.name}</p>
          <p className="line-clamp-2 text-sm break-words whitespace-pre-wrap text-slate-600">{persona.prompt}</p>
          <p className="text-xs text-slate-500">Updated {formatDateTime(persona.updated_at)}</p>
        </div>
        {!confirming && (
          <div className="flex flex-wrap gap-2">
            <button type="button" onClick={onEdit} aria-label={`Edit ${persona.name}`} className="btn-secondary">
              Edit
            </button>
            <button
              type="button"
              onClick={() => {
                setChangingAvatar((open) => !open)
              }}
              aria-expanded={changingAvatar}
              aria-controls={avatarPanelId}
              aria-label={`${persona.avatar_url ? 'Change' : 'Add'} avatar for ${persona.name}`}
              className="btn-secondary"
            >
              {persona.avatar_url ? 'Change avatar' : 'Add avatar'}
            </button>
            <button
              type="button"
              onClick={() => {
                setConfirming(true)
              }}
              autoFocus={kept}
              aria-label={`Delete ${persona.name}`}
              className="btn-secondary"
            >
              Delete
            </button>
          </div>
        )}
      </div>
      {changingAvatar && (
        <div id={avatarPanelId}>
          <AvatarUploader personaId={persona.id} personaName={persona.name} onUploaded={onAvatarUploaded} />
        </div>
      )}
      {confirming && (
        <ConfirmDelete
          label={persona.name}
          busy={busy}
          onConfirm={() => void remove()}
          onKeep={() => {
            setConfirming(false)
            setKept(true)
          }}
        >
          Delete “{persona.name}” and its avatar? This cannot be undone.
        </ConfirmDelete>
      )}
      {error !== null && <ErrorMessage error={error} />}
    </li>
  )
}

function PersonaForm({
  persona,
  onDone,
  onCancel,
}: {
  persona: Persona | null
  onDone: () => void
  onCancel?: () => void
}) {
  const api = useApi()
  const nameId = useId()
  const promptId = useId()
  const [name, setName] = useState(persona?.name ?? '')
  const [prompt, setPrompt] = useState(persona?.prompt ?? '')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const valid = name.trim().length > 0 && prompt.trim().length > 0

  async function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault()
    if (!valid) return
    setBusy(true)
    setError(null)
    try {
      if (persona) await api.updatePersona(persona.id, { name: name.trim(), prompt })
      else await api.createPersona({ name: name.trim(), prompt })
      if (!persona) {
        setName('')
        setPrompt('')
      }
      setBusy(false)
      onDone()
    } catch (caught) {
      setError(caught)
      setBusy(false)
    }
  }

  return (
    <form onSubmit={(event) => void submit(event)} className="mt-2 space-y-3">
      <div>
        <label htmlFor={nameId} className="label">
          Name
        </label>
        <input
          id={nameId}
          value={name}
          maxLength={PERSONA_NAME_MAX}
          onChange={(event) => {
            setName(event.target.value)
          }}
          aria-describedby={`${nameId}-count`}
          className="field mt-1"
        />
        <CharacterCount id={`${nameId}-count`} used={name.length} max={PERSONA_NAME_MAX} />
      </div>
      <div>
        <label htmlFor={promptId} className="label">
          Prompt
        </label>
        <textarea
          id={promptId}
          rows={5}
          value={prompt}
          maxLength={PERSONA_PROMPT_MAX}
          onChange={(event) => {
            setPrompt(event.target.value)
          }}
          aria-describedby={`${promptId}-count`}
          className="field mt-1 resize-y"
        />
        <CharacterCount id={`${promptId}-count`} used={prompt.length} max={PERSONA_PROMPT_MAX} />
      </div>
      {error !== null && <ErrorMessage error={error} />}
      <div className="flex gap-2">
        <button type="submit" disabled={busy || !valid} className="btn-primary">
          {busy ? 'Saving…' : persona ? 'Save changes' : 'Create persona'}
        </button>
        {onCancel && (
          <button type="button" onClick={onCancel} disabled={busy} className="btn-secondary">
            Cancel
          </button>
        )}
      </div>
    </form>
  )
}
