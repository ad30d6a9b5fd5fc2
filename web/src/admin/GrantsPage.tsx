// Grants (admins only): add budget to a user's balance, with the reason on the record. The API is
// the guard (403 admin_only for anyone else); this page is only offered to admins.
import { useId, useState, type SubmitEvent } from 'react'
import { useApi } from '../api/context'
import { GRANT_MAX_CENTS, GRANT_REASON_MAX, type Grant } from '../api/types'
import { useBudget } from '../budget/context'
import { useSignedInSession } from '../session/context'
import { ErrorMessage } from '../ui/ErrorMessage'
import { CharacterCount } from '../ui/CharacterCount'
import { formatCents, parseDollarsToCents } from '../ui/format'
import { useIsAdmin } from './access'

export function GrantsPage() {
  const admin = useIsAdmin()
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-bold">Grant budget</h1>
      {admin ? <GrantForm /> : <p>Only an admin can grant budget. Ask one if you need more.</p>}
    </div>
  )
}

function GrantForm() {
  const api = useApi()
  const { user } = useSignedInSession()
  const { refresh } = useBudget()
  const emailId = useId()
  const amountId = useId()
  const reasonId = useId()
  const [email, setEmail] = useState('')
  const [amount, setAmount] = useState('')
  const [reason, setReason] = useState('')
  const [problem, setProblem] = useState<string | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const [granted, setGranted] = useState<{ email: string; grant: Grant } | null>(null)

  function check(): { cents: number } | string {
    if (!email.trim()) return 'Enter the email address of the person to grant budget to.'
    const cents = parseDollarsToCents(amount)
    if (cents === null) return 'Enter the amount in dollars, like 5 or 12.50.'
    if (cents < 1 || cents > GRANT_MAX_CENTS) {
      return `The amount must be between $0.01 and ${formatCents(GRANT_MAX_CENTS)}.`
    }
    if (!reason.trim()) return 'Say why: the reason is kept with the grant.'
    return { cents }
  }

  async function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault()
    const checked = check()
    setGranted(null)
    setError(null)
    if (typeof checked === 'string') {
      setProblem(checked)
      return
    }
    setProblem(null)
    setBusy(true)
    const recipient = email.trim()
    try {
      const grant = await api.createGrant({ email: recipient, amount_cents: checked.cents, reason: reason.trim() })
      setGranted({ email: recipient, grant })
      setAmount('')
      setReason('')
      // A grant to oneself changes the banner (and may lift a lockout).
      if (grant.user_id === user.id) void refresh()
    } catch (caught) {
      setError(caught)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form onSubmit={(event) => void submit(event)} noValidate className="space-y-3 rounded-lg bg-white p-3 shadow-sm sm:p-4">
      <p className="text-sm text-slate-600">
        Budget only comes from grants. Each one is recorded with who granted it and why.
      </p>
      <div className="grid gap-3 sm:grid-cols-2">
        <div>
          <label htmlFor={emailId} className="label">
            Recipient email
          </label>
          <input
            id={emailId}
            type="email"
            autoComplete="off"
            value={email}
            onChange={(event) => {
              setEmail(event.target.value)
            }}
            className="field mt-1"
          />
        </div>
        <div>
          <label htmlFor={amountId} className="label">
            Amount (US dollars)
          </label>
          <input
            id={amountId}
            inputMode="decimal"
            value={amount}
            placeholder="5.00"
            onChange={(event) => {
              setAmount(event.target.value)
            }}
            className="field mt-1"
          />
        </div>
      </div>
      <div>
        <label htmlFor={reasonId} className="label">
          Reason
        </label>
        <textarea
          id={reasonId}
          rows={2}
          value={reason}
          maxLength={GRANT_REASON_MAX}
          onChange={(event) => {
            setReason(event.target.value)
          }}
          aria-describedby={`${reasonId}-count`}
          className="field mt-1 resize-y"
        />
        <CharacterCount id={`${reasonId}-count`} used={reason.length} max={GRANT_REASON_MAX} />
      </div>
      {problem && (
        <p role="alert" className="text-sm text-red-800">
          {problem}
        </p>
      )}
      {error !== null && <ErrorMessage error={error} />}
      <p role="status" className="text-sm text-emerald-800">
        {granted &&
          `Granted ${formatCents(granted.grant.amount_cents)} to ${granted.email}. Their balance is now ${formatCents(granted.grant.balance_cents)}.`}
      </p>
      <button type="submit" disabled={busy} className="btn-primary">
        {busy ? 'Granting…' : 'Grant budget'}
      </button>
    </form>
  )
}
