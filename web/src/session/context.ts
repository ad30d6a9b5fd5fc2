// Who is signed in, and the two ways that changes: signing in and signing out.
import { createContext, useContext } from 'react'
import type { Session } from './sessionStore'

export const SESSION_EXPIRED_NOTICE = 'Your session expired — sign in again.'

export interface SessionState {
  session: Session | null
  /** Why the gate is showing, when it is not the first visit (e.g. the session expired). */
  notice: string | null
  signIn: (passcode: string) => Promise<void>
  signOut: (notice?: string) => void
}

export const SessionContext = createContext<SessionState | null>(null)

export function useSession(): SessionState {
  const state = useContext(SessionContext)
  if (!state) throw new Error('useSession must be used inside <SessionProvider>')
  return state
}

/** For pages behind the gate: the session is known to exist there. */
export function useSignedInSession(): Session {
  const { session } = useSession()
  if (!session) throw new Error('useSignedInSession must be used behind the passcode gate')
  return session
}
