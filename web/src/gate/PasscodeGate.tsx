// The sign-in screen: a passcode in, a session out. Shown in place of any page while signed out.
import { useId, useState, type SubmitEvent } from 'react'
import { ApiError } from '../api/client'
import { PASSCODE_MAX } from '../api/types'
import { useSession } from '../session/context'

function signInErrorText(error: unknown): string {
  if (!(error instanceof ApiError)) return 'Could not sign in. Try again.'
  if (error.code === 'invalid_passcode') return 'That passcode is not right. Check it and try again.'
  if (error.status === 429) {
    const wait = error.retryAfterSecs
    return wait === null
      ? `${error.message} Wait a while before trying again.`
      : `Too many failed attempts. Try again in ${describeWait(wait)}.`
  }
  return error.message
}

function describeWait(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`
  const minutes = Math.ceil(seconds / 60)
  return `${minutes} minute${minutes === 1 ? '' : 's'}`
}

export function PasscodeGate() {
  const { signIn, notice } = useSession()
  const [passcode, setPasscode] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const inputId = useId()
  const errorId = useId()

  async function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault()
    if (!passcode) {
      setError('Enter your passcode.')
      return
    }
    setBusy(true)
    setError(null)
    try {
      await signIn(passcode)
    } catch (caught) {
      setError(signInErrorText(caught))
      setBusy(false)
    }
  }

  return (
    <main className="mx-auto flex min-h-screen max-w-sm flex-col justify-center p-4">
      <h1 className="text-2xl font-bold">Helix</h1>
      <p className="mt-1 text-slate-600">Sign in with your passcode.</p>
      {notice && (
        <p role="status" className="mt-4 rounded-md bg-amber-100 p-3 text-sm text-amber-900">
          {notice}
        </p>
      )}
      <form onSubmit={(event) => void submit(event)} className="mt-4 space-y-3" noValidate>
        <div>
          <label htmlFor={inputId} className="label">
            Passcode
          </label>
          <input
            id={inputId}
            type="password"
            autoComplete="current-password"
            autoFocus
            maxLength={PASSCODE_MAX}
            value={passcode}
            onChange={(event) => {
              setPasscode(event.target.value)
            }}
            aria-invalid={error !== null}
            aria-describedby={error ? errorId : undefined}
            className="field mt-1"
          />
        </div>
        {error && (
          <p id={errorId} role="alert" className="text-sm text-red-800">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy} className="btn-primary w-full">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  )
}
