// Which stored conversation the chat shows: the page's path, `/c/{id}`, so a reload, Back and a
// copied link all land on it. Page routes stay in the hash (../router); a path is served
// index.html by CloudFront's and Vite's SPA fallback alike.
import { useSyncExternalStore } from 'react'

const PREFIX = '/c/'
const NAVIGATED = 'helix:conversation-path'

/** The conversation a path names, or null (a new chat). */
export function conversationFromPath(pathname: string): string | null {
  if (!pathname.startsWith(PREFIX)) return null
  const id = decodeURIComponent(pathname.slice(PREFIX.length).replace(/\/+$/, ''))
  return /^[a-z0-9]{8,64}$/.test(id) ? id : null
}

export function conversationHref(id: string | null): string {
  return `${id ? PREFIX + encodeURIComponent(id) : '/'}#/chat`
}

/**
 * Shows conversation `id` (null: a new chat). `replace` rewrites the current history entry instead
 * of adding one: a chat that has just been saved keeps its place in Back's list.
 */
export function openConversation(id: string | null, { replace = false }: { replace?: boolean } = {}): void {
  const href = conversationHref(id)
  if (replace) window.history.replaceState(null, '', href)
  else window.history.pushState(null, '', href)
  window.dispatchEvent(new Event(NAVIGATED))
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('popstate', onChange)
  window.addEventListener(NAVIGATED, onChange)
  return () => {
    window.removeEventListener('popstate', onChange)
    window.removeEventListener(NAVIGATED, onChange)
  }
}

export function useConversationPath(): string | null {
  return useSyncExternalStore(subscribe, () => conversationFromPath(window.location.pathname))
}
