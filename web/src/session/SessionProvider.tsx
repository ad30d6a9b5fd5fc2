// Owns the session: signs in through POST /auth/verify, signs out through POST /auth/logout (so the
// token dies on the server too), and ends the session on any 401.
import { useCallback, useEffect, useMemo, useState, type ReactNode } from 'react'
import { useApi } from '../api/context'
import { SESSION_EXPIRED_NOTICE, SessionContext, type SessionState } from './context'
import { clearSession, loadSession, saveSession, type Session } from './sessionStore'

export function SessionProvider({ children }: { children: ReactNode }) {
  const api = useApi()
  const [session, setSession] = useState<Session | null>(() => loadSession())
  const [notice, setNotice] = useState<string | null>(null)

  const signOut = useCallback(
    (why?: string) => {
      // A sign-out the person asked for revokes the token; one caused by a 401 has nothing to end.
      const ending = why === undefined ? loadSession() : null
      if (ending) void api.signOut(ending.token).catch(() => undefined)
      clearSession()
      setSession(null)
      setNotice(why ?? null)
    },
    [api],
  )

  useEffect(
    () =>
      api.client.subscribe((event) => {
        if (event.type === 'unauthorized') signOut(SESSION_EXPIRED_NOTICE)
      }),
    [api, signOut],
  )

  const signIn = useCallback(
    async (passcode: string) => {
      const answer = await api.verifyPasscode(passcode)
      const next: Session = { token: answer.token, expiresAt: answer.expires_at, user: answer.user }
      saveSession(next)
      setNotice(null)
      setSession(next)
    },
    [api],
  )

  const state = useMemo<SessionState>(
    () => ({ session, notice, signIn, signOut }),
    [session, notice, signIn, signOut],
  )
  return <SessionContext value={state}>{children}</SessionContext>
}
