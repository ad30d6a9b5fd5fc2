// The messages so far (the last answer perhaps still streaming in), the answer being waited for, and
// an unsent message with its error. The last answer's tool calls, while unanswered, come with the form
// that sends their results back. In a stored conversation the last answer can be regenerated, a
// question edited and sent again, and a message with several versions switched between them.
import { useState, type ReactNode } from 'react'
import type { ChatEntry, Outgoing, PendingSend, StoredRef, ToolResult } from './useConversation'
import { AnswerBubble } from './AnswerBubble'
import { ErrorMessage } from '../ui/ErrorMessage'

/** What the person may do to stored messages; absent: nothing (a chat not stored yet). */
export interface MessageActions {
  disabled: boolean
  onRegenerate: () => void
  onEdit: (messageId: string, text: string) => void
  onSwitchVersion: (messageId: string) => void
}

export function ConversationView({
  entries,
  pending,
  onRetry,
  onDiscard,
  canRetry,
  toolResultForm,
  actions,
}: {
  entries: ChatEntry[]
  pending: PendingSend | null
  canRetry: boolean
  onRetry: () => void
  onDiscard: () => void
  /** Shown under the last answer when it asked for tools (null otherwise). */
  toolResultForm: ReactNode
  actions?: MessageActions
}) {
  if (entries.length === 0 && !pending) {
    return <p className="py-8 text-center text-slate-500">Start the conversation below.</p>
  }
  return (
    <ol aria-label="Conversation" className="space-y-3">
      {entries.map((entry, index) => {
        if (entry.kind === 'user') {
          return <UserBubble key={entry.id} text={entry.text} stored={entry.stored} actions={pending ? undefined : actions} />
        }
        if (entry.kind === 'tool') return <ToolResultsBubble key={entry.id} results={entry.results} />
        const last = index === entries.length - 1
        return (
          <AnswerBubble key={entry.id} answer={entry.answer}>
            {last && !pending && toolResultForm}
            {actions && entry.stored && !pending && (
              <div className="mt-2 flex flex-wrap items-center gap-2">
                <VersionSwitcher stored={entry.stored} label="answer" actions={actions} />
                {last && (
                  <button type="button" onClick={actions.onRegenerate} disabled={actions.disabled} className="btn-secondary text-xs">
                    Regenerate
                  </button>
                )}
              </div>
            )}
          </AnswerBubble>
        )
      })}
      {pending && (
        <>
          <OutgoingBubble outgoing={pending.outgoing} />
          {pending.status === 'sending' ? (
            <li role="status" className="text-sm text-slate-600">
              Waiting for the answer…
            </li>
          ) : (
            <li className="space-y-2">
              <ErrorMessage error={pending.error} />
              <div className="flex gap-2">
                <button type="button" onClick={onRetry} disabled={!canRetry} className="btn-secondary">
                  Try again
                </button>
                <button type="button" onClick={onDiscard} className="btn-secondary">
                  Discard and edit
                </button>
              </div>
            </li>
          )}
        </>
      )}
    </ol>
  )
}

function OutgoingBubble({ outgoing }: { outgoing: Outgoing }) {
  switch (outgoing.kind) {
    case 'user':
    case 'edit':
      return <UserBubble text={outgoing.text} />
    case 'tool':
      return <ToolResultsBubble results={outgoing.results} />
    case 'regenerate':
      return null
  }
}

/** "‹ 2 / 3 ›" for a message with several versions. */
function VersionSwitcher({ stored, label, actions }: { stored: StoredRef; label: string; actions: MessageActions }) {
  const { versions, version } = stored
  if (versions.length < 2) return null
  const go = (to: number) => {
    const id = versions[to - 1]
    if (id) actions.onSwitchVersion(id)
  }
  return (
    <span role="group" aria-label={`Versions of this ${label}`} className="inline-flex items-center gap-1 text-xs">
      <button
        type="button"
        onClick={() => {
          go(version - 1)
        }}
        disabled={actions.disabled || version <= 1}
        aria-label={`Previous version of this ${label}`}
        className="btn-secondary px-2 py-0.5 text-xs"
      >
        ‹
      </button>
      <span>
        {version} / {versions.length}
      </span>
      <button
        type="button"
        onClick={() => {
          go(version + 1)
        }}
        disabled={actions.disabled || version >= versions.length}
        aria-label={`Next version of this ${label}`}
        className="btn-secondary px-2 py-0.5 text-xs"
      >
        ›
      </button>
    </span>
  )
}

function UserBubble({ text, stored, actions }: { text: string; stored?: StoredRef | undefined; actions?: MessageActions | undefined }) {
  const [editing, setEditing] = useState<string | null>(null)
  if (editing !== null && stored && actions) {
    return (
      <li className="ml-auto w-full max-w-[95%] sm:max-w-[85%]">
        <form
          aria-label="Edit your message"
          onSubmit={(event) => {
            event.preventDefault()
            const edited = editing.trim()
            if (!edited) return
            setEditing(null)
            actions.onEdit(stored.messageId, edited)
          }}
          className="space-y-2 rounded-lg border border-indigo-300 bg-white p-3"
        >
          <label className="label" htmlFor={`edit-${stored.messageId}`}>
            Edited message
          </label>
          <textarea
            id={`edit-${stored.messageId}`}
            value={editing}
            rows={3}
            onChange={(event) => {
              setEditing(event.target.value)
            }}
            onKeyDown={(event) => {
              if (event.key === 'Escape') setEditing(null)
            }}
            className="field resize-y"
          />
          <div className="flex gap-2">
            <button type="submit" disabled={actions.disabled || !editing.trim()} className="btn-primary">
              Send edit
            </button>
            <button
              type="button"
              onClick={() => {
                setEditing(null)
              }}
              className="btn-secondary"
            >
              Cancel
            </button>
          </div>
        </form>
      </li>
    )
  }
  return (
    <li className="ml-auto max-w-[95%] rounded-lg bg-indigo-700 p-3 break-words whitespace-pre-wrap text-white sm:max-w-[85%]">
      <p className="sr-only">You:</p>
      {text}
      {stored && actions && (
        <div className="mt-2 flex flex-wrap items-center justify-end gap-2 whitespace-normal text-slate-900">
          <VersionSwitcher stored={stored} label="message" actions={actions} />
          <button
            type="button"
            onClick={() => {
              setEditing(text)
            }}
            disabled={actions.disabled}
            className="btn-secondary px-2 py-0.5 text-xs"
          >
            Edit
          </button>
        </div>
      )}
    </li>
  )
}

function ToolResultsBubble({ results }: { results: ToolResult[] }) {
  return (
    <li className="ml-auto max-w-[95%] space-y-1 rounded-lg border border-indigo-200 bg-indigo-50 p-3 text-sm sm:max-w-[85%]">
      <p className="font-medium text-indigo-900">{results.length > 1 ? 'Tool results' : 'Tool result'}</p>
      <ul className="space-y-1">
        {results.map((result) => (
          <li key={result.callId} className="break-words whitespace-pre-wrap">
            <code className="font-semibold">{result.name}</code>: <code>{result.content || '(empty)'}</code>
          </li>
        ))}
      </ul>
    </li>
  )
}
