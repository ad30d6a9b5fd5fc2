// The stored conversations: pinned first, then the most recently answered; a search over titles and
// messages; a new chat; and per conversation rename, pin, archive and delete (after a confirmation).
import { useEffect, useRef, useState } from 'react'
import { useApi } from '../api/context'
import { CONVERSATION_TITLE_MAX, type ListedConversation } from '../api/types'
import { ConfirmDelete } from '../ui/ConfirmDelete'
import { ErrorMessage } from '../ui/ErrorMessage'
import { formatMicros } from '../ui/format'
import { useLoad } from '../ui/useLoad'
import { conversationHref, openConversation } from './location'

export function Sidebar({
  activeId,
  changed,
  onNewChat,
  newChatDisabled,
  onChanged,
}: {
  activeId: string | null
  /** Changes whenever a turn was stored: the list is read again. */
  changed: number
  onNewChat: () => void
  newChatDisabled: boolean
  /** A conversation was renamed, archived or deleted: `deleted` says whether it is gone. */
  onChanged: (id: string, deleted: boolean) => void
}) {
  const api = useApi()
  const [query, setQuery] = useState('')
  const [search, setSearch] = useState('')
  const [archived, setArchived] = useState(false)
  const [more, setMore] = useState<ListedConversation[]>([])
  const [cursor, setCursor] = useState<string | null>(null)
  const list = useLoad(async () => {
    const page = await api.listConversations({ q: search || undefined, archived })
    setMore([])
    setCursor(page.next_cursor)
    return page.conversations
  })
  const { reload } = list

  // Searching waits for a pause in typing.
  useEffect(() => {
    const timer = setTimeout(() => {
      setSearch(query.trim())
    }, 250)
    return () => {
      clearTimeout(timer)
    }
  }, [query])
  // The first load is useLoad's own; after that, each change of what to list reads it again.
  const first = useRef(true)
  useEffect(() => {
    if (first.current) {
      first.current = false
      return
    }
    reload()
  }, [search, archived, changed, reload])

  async function loadMore() {
    if (!cursor) return
    const page = await api.listConversations({ q: search || undefined, archived, cursor })
    setMore((current) => [...current, ...page.conversations])
    setCursor(page.next_cursor)
  }

  const conversations = [...(list.data ?? []), ...more]
  return (
    <nav aria-label="Conversations" className="space-y-3 rounded-lg bg-white p-3 shadow-sm">
      <button type="button" onClick={onNewChat} disabled={newChatDisabled} className="btn-primary w-full">
        New conversation
      </button>
      <div>
        <label htmlFor="conversation-search" className="label">
          Search conversations
        </label>
        <input
          id="conversation-search"
          type="search"
          value={query}
          maxLength={200}
          onChange={(event) => {
            setQuery(event.target.value)
          }}
          className="field mt-1"
        />
      </div>
      <label className="flex items-center gap-2 text-sm">
        <input
          type="checkbox"
          checked={archived}
          onChange={(event) => {
            setArchived(event.target.checked)
          }}
        />
        Show archived
      </label>
      {list.error !== null && <ErrorMessage error={list.error} />}
      {list.loading && list.data === null ? (
        <p role="status" className="text-sm text-slate-600">
          Loading conversations…
        </p>
      ) : conversations.length === 0 ? (
        <p className="text-sm text-slate-600">
          {search ? 'No conversation matches.' : archived ? 'Nothing archived.' : 'No conversations yet.'}
        </p>
      ) : (
        <ul aria-label="Your conversations" className="space-y-1">
          {conversations.map((conversation) => (
            <ConversationItem
              key={conversation.id}
              conversation={conversation}
              active={conversation.id === activeId}
              onChanged={(deleted) => {
                reload()
                onChanged(conversation.id, deleted)
              }}
            />
          ))}
        </ul>
      )}
      {cursor && (
        <button type="button" onClick={() => void loadMore()} className="btn-secondary w-full">
          More
        </button>
      )}
    </nav>
  )
}

function ConversationItem({
  conversation,
  active,
  onChanged,
}: {
  conversation: ListedConversation
  active: boolean
  onChanged: (deleted: boolean) => void
}) {
  const api = useApi()
  const [open, setOpen] = useState(false)
  const [renaming, setRenaming] = useState<string | null>(null)
  const [confirming, setConfirming] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const { id, title } = conversation

  async function act(change: () => Promise<unknown>, deleted = false) {
    setBusy(true)
    setError(null)
    try {
      await change()
      setOpen(false)
      setRenaming(null)
      setConfirming(false)
      onChanged(deleted)
    } catch (failure) {
      setError(failure)
    } finally {
      setBusy(false)
    }
  }

  return (
    <li className="rounded-md aria-[current=true]:bg-indigo-50" aria-current={active}>
      <div className="flex items-start gap-1">
        <a
          href={conversationHref(id)}
          aria-current={active ? 'page' : undefined}
          onClick={(event) => {
            if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return
            event.preventDefault()
            openConversation(id)
          }}
          className="min-w-0 flex-1 rounded-md px-2 py-1 text-sm hover:bg-slate-100"
        >
          <span className="block truncate font-medium">
            {conversation.pinned && <span aria-label="Pinned">📌 </span>}
            {title}
          </span>
          {conversation.snippet && (
            <span className="block truncate text-xs text-slate-600">{conversation.snippet.replace(/[«»]/g, '')}</span>
          )}
          <span className="block text-xs text-slate-500">{formatMicros(conversation.cost.micros)}</span>
        </a>
        <button
          type="button"
          aria-expanded={open}
          aria-label={`Actions for ${title}`}
          onClick={() => {
            setOpen((value) => !value)
          }}
          className="btn-secondary px-2 py-0.5 text-xs"
        >
          ⋯
        </button>
      </div>
      {open && (
        <div className="space-y-2 px-2 py-1">
          {renaming !== null ? (
            <form
              aria-label={`Rename ${title}`}
              onSubmit={(event) => {
                event.preventDefault()
                const next = renaming.trim()
                if (next) void act(() => api.updateConversation(id, { title: next }))
              }}
              className="flex gap-1"
            >
              <label className="sr-only" htmlFor={`title-${id}`}>
                New title
              </label>
              <input
                id={`title-${id}`}
                value={renaming}
                maxLength={CONVERSATION_TITLE_MAX}
                autoFocus
                onChange={(event) => {
                  setRenaming(event.target.value)
                }}
                className="field min-w-0 flex-1 py-0.5 text-sm"
              />
              <button type="submit" disabled={busy || !renaming.trim()} className="btn-primary px-2 py-0.5 text-xs">
                Save
              </button>
            </form>
          ) : confirming ? (
            <ConfirmDelete
              label={title}
              busy={busy}
              onConfirm={() => void act(() => api.deleteConversation(id), true)}
              onKeep={() => {
                setConfirming(false)
              }}
            >
              Delete “{title}” and its messages? What it cost stays on your usage page.
            </ConfirmDelete>
          ) : (
            <div className="flex flex-wrap gap-1">
              <button
                type="button"
                onClick={() => {
                  setRenaming(title)
                }}
                className="btn-secondary px-2 py-0.5 text-xs"
              >
                Rename
              </button>
              <button
                type="button"
                disabled={busy}
                onClick={() => void act(() => api.updateConversation(id, { pinned: !conversation.pinned }))}
                className="btn-secondary px-2 py-0.5 text-xs"
              >
                {conversation.pinned ? 'Unpin' : 'Pin'}
              </button>
              <button
                type="button"
                disabled={busy}
                onClick={() => void act(() => api.updateConversation(id, { archived: !conversation.archived }))}
                className="btn-secondary px-2 py-0.5 text-xs"
              >
                {conversation.archived ? 'Unarchive' : 'Archive'}
              </button>
              <button
                type="button"
                onClick={() => {
                  setConfirming(true)
                }}
                className="btn-secondary px-2 py-0.5 text-xs text-red-800"
              >
                Delete
              </button>
            </div>
          )}
          {error !== null && <ErrorMessage error={error} />}
        </div>
      )}
    </li>
  )
}
