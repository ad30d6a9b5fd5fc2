// The signed-in session, kept in sessionStorage: it lasts while the tab is open and is never shared
// with other tabs or written to disk beyond the browser's session.
import type { User } from '../api/types'

export interface Session {
  token: string
  expiresAt: string
  user: User
}

const KEY = 'helix.session'

export function loadSession(now: Date = new Date()): Session | null {
  const raw = sessionStorage.getItem(KEY)
  if (!raw) return null
  try {
    const session = JSON.parse(raw) as Partial<Session>
    if (typeof session.token !== 'string' || typeof session.expiresAt !== 'string' || !session.user) {
      clearSession()
      return null
    }
    if (Date.parse(session.expiresAt) <= now.getTime()) {
      clearSession()
      return null
    }
    return session as Session
  } catch {
    clearSession()
    return null
  }
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(session))
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY)
}
