// Users (admins only): every user's balance, allowance, period spend, open holds and caps; for one
// user (or the deployment default) set the budget policy, grant budget, and read their ledger. The
// API is the guard (403 admin_only for anyone else); this page is only offered to admins.
import { useId, useState, type SubmitEvent } from 'react'
import { useApi } from '../api/context'
import {
  GRANT_MAX_CENTS,
  POLICY_MAX_CENTS,
  type Period,
  type PolicyRequest,
  type RefillRule,
  type UserBudget,
} from '../api/types'
import { LedgerTable } from '../usage/LedgerTable'
import { ErrorMessage } from '../ui/ErrorMessage'
import { formatCents, formatMicros, parseDollarsToCents } from '../ui/format'
import { useLoad } from '../ui/useLoad'
import { useIsAdmin } from './access'

const micros = (value: number | null) => (value === null ? '—' : formatMicros(value))

export function UsersPage() {
  const admin = useIsAdmin()
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-bold">Users</h1>
      {admin ? <UsersList /> : <p>Only an admin can see every user's budget.</p>}
    </div>
  )
}

function UsersList() {
  const api = useApi()
  const page = useLoad(() => api.listUserBudgets({ limit: 100 }))
  const [selected, setSelected] = useState<UserBudget | 'default' | null>(null)
  const users = page.data?.users ?? []
  return (
    <>
      {page.error !== null && <ErrorMessage error={page.error} />}
      {page.loading && !page.data && <p role="status">Loading users…</p>}
      {/* relative: the sr-only labels inside are absolutely placed; this keeps them in the scroller. */}
      <div className="relative overflow-x-auto rounded-lg bg-white shadow-sm">
        <table className="w-full text-left text-sm">
          <caption className="sr-only">Users and their budgets</caption>
          <thead className="border-b border-slate-200 text-slate-600">
            <tr>
              <th scope="col" className="p-2">User</th>
              <th scope="col" className="p-2 text-right">Balance</th>
              <th scope="col" className="p-2 text-right">Allowance</th>
              <th scope="col" className="p-2 text-right">Spent this period</th>
              <th scope="col" className="p-2 text-right">Open holds</th>
              <th scope="col" className="p-2 text-right">Cap</th>
              <th scope="col" className="p-2"><span className="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {users.map((user) => (
              <tr key={user.id} className="border-b border-slate-100 last:border-0">
                <td className="break-all p-2">
                  {user.email}
                  <span className="block text-xs text-slate-600">
                    {user.period}, {user.time_zone} · policy: {user.policy_source}
                  </span>
                </td>
                <td className="whitespace-nowrap p-2 text-right">{formatCents(user.balance_cents)}</td>
                <td className="whitespace-nowrap p-2 text-right">{micros(user.allowance_micros)}</td>
                <td className="whitespace-nowrap p-2 text-right">{formatMicros(user.period_spent_micros)}</td>
                <td className="whitespace-nowrap p-2 text-right">
                  {user.open_holds} ({formatMicros(user.held_micros)})
                </td>
                <td className="whitespace-nowrap p-2 text-right">{micros(user.spend_cap_micros)}</td>
                <td className="p-2">
                  <button
                    type="button"
                    className="btn-secondary"
                    onClick={() => {
                      setSelected(user)
                    }}
                  >
                    Manage <span className="sr-only">{user.email}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <button
        type="button"
        className="btn-secondary"
        onClick={() => {
          setSelected('default')
        }}
      >
        Default policy for new users
      </button>
      {selected && (
        <UserPanel
          key={selected === 'default' ? 'default' : selected.id}
          user={selected}
          onChanged={page.reload}
        />
      )}
    </>
  )
}

function UserPanel({ user, onChanged }: { user: UserBudget | 'default'; onChanged: () => void }) {
  const title = user === 'default' ? 'Default policy (users without their own)' : user.email
  return (
    <section aria-label={title} className="space-y-3 rounded-lg border border-slate-200 p-3 sm:p-4">
      <h2 className="text-lg font-semibold">{title}</h2>
      <PolicyForm userId={user === 'default' ? 'default' : user.id} current={user === 'default' ? null : user} onSaved={onChanged} />
      {user !== 'default' && <GrantForm email={user.email} onGranted={onChanged} />}
      {user !== 'default' && <UserLedger userId={user.id} />}
    </section>
  )
}

/** Dollars as typed → cents; '' is "not set"; null when it is not an amount Helix takes. */
function centsOrUnset(text: string, max: number): number | undefined | null {
  if (!text.trim()) return undefined
  const cents = parseDollarsToCents(text)
  return cents === null || cents > max ? null : cents
}

function wholeOrUnset(text: string): number | undefined | null {
  if (!text.trim()) return undefined
  return /^\d{1,12}$/.test(text.trim()) && Number(text) >= 1 ? Number(text) : null
}

const dollars = (value: number | null) => (value === null ? '' : (value / 1_000_000).toFixed(2))
const whole = (value: number | null | undefined) => (value === null || value === undefined ? '' : String(value))

function PolicyForm({
  userId,
  current,
  onSaved,
}: {
  userId: string
  current: UserBudget | null
  onSaved: () => void
}) {
  const api = useApi()
  const id = useId()
  // The form starts from the user's own policy; one that follows the default starts empty.
  const mine = current?.policy_source === 'user' ? current : null
  const [period, setPeriod] = useState<Period>(mine ? mine.period : 'monthly')
  const [timeZone, setTimeZone] = useState(mine ? mine.time_zone : 'UTC')
  const [allowance, setAllowance] = useState(mine ? dollars(mine.allowance_micros) : '')
  const [rule, setRule] = useState<RefillRule>(mine?.refill_rule ?? 'top_up')
  const [rollover, setRollover] = useState(mine ? dollars(mine.rollover_cap_micros) : '')
  const [cap, setCap] = useState(mine ? dollars(mine.spend_cap_micros) : '')
  const [tokens, setTokens] = useState(whole(mine?.max_tokens_per_minute))
  const [inFlight, setInFlight] = useState(whole(mine?.max_calls_in_flight))
  const [perMinute, setPerMinute] = useState(whole(mine?.max_calls_per_minute))
  const [problem, setProblem] = useState<string | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [saved, setSaved] = useState(false)
  const [busy, setBusy] = useState(false)

  function check(): PolicyRequest | string {
    const request: PolicyRequest = { period, time_zone: timeZone.trim() || 'UTC', refill_rule: rule }
    const amounts: [keyof PolicyRequest, string, string][] = [
      ['allowance_cents', allowance, 'The allowance'],
      ['rollover_cap_cents', rollover, 'The rollover cap'],
      ['spend_cap_cents', cap, 'The spending cap'],
    ]
    for (const [field, text, name] of amounts) {
      const cents = centsOrUnset(text, POLICY_MAX_CENTS)
      if (cents === null) return `${name} must be an amount in dollars up to ${formatCents(POLICY_MAX_CENTS)}, or empty.`
      if (cents !== undefined) Object.assign(request, { [field]: cents })
    }
    if (request.rollover_cap_cents !== undefined && rule !== 'add') return 'A rollover cap applies only when the allowance is added.'
    const limits: [keyof PolicyRequest, string, string][] = [
      ['max_tokens_per_minute', tokens, 'Tokens per minute'],
      ['max_calls_in_flight', inFlight, 'Calls at once'],
      ['max_calls_per_minute', perMinute, 'Calls per minute'],
    ]
    for (const [field, text, name] of limits) {
      const value = wholeOrUnset(text)
      if (value === null) return `${name} must be a whole number of at least 1, or empty.`
      if (value !== undefined) Object.assign(request, { [field]: value })
    }
    return request
  }

  async function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault()
    const checked = check()
    setSaved(false)
    setError(null)
    if (typeof checked === 'string') {
      setProblem(checked)
      return
    }
    setProblem(null)
    setBusy(true)
    try {
      await api.putPolicy(userId, checked)
      setSaved(true)
      onSaved()
    } catch (failure) {
      setError(failure)
    } finally {
      setBusy(false)
    }
  }

  const text = (label: string, value: string, set: (v: string) => void, hint: string, inputMode?: 'decimal' | 'numeric') => {
    const inputId = `${id}-${label.replace(/\W+/g, '-')}`
    return (
      <div className="text-sm">
        <label htmlFor={inputId} className="label">
          {label}
        </label>
        <input
          id={inputId}
          value={value}
          inputMode={inputMode}
          onChange={(event) => {
            set(event.target.value)
          }}
          className="field mt-1"
          aria-describedby={`${inputId}-hint`}
        />
        <span id={`${inputId}-hint`} className="text-xs text-slate-600">
          {hint}
        </span>
      </div>
    )
  }

  return (
    <form onSubmit={(event) => void submit(event)} noValidate className="space-y-3" aria-label="Budget policy">
      <h3 className="font-medium">Budget policy</h3>
      <div className="grid gap-3 sm:grid-cols-3">
        <label className="text-sm">
          <span className="label">Period</span>
          <select
            value={period}
            onChange={(event) => {
              setPeriod(event.target.value as Period)
            }}
            className="field mt-1"
          >
            <option value="daily">daily</option>
            <option value="weekly">weekly</option>
            <option value="monthly">monthly</option>
          </select>
        </label>
        {text('Time zone', timeZone, setTimeZone, 'IANA name, e.g. Europe/Paris')}
        <label className="text-sm">
          <span className="label">Refill</span>
          <select
            value={rule}
            onChange={(event) => {
              setRule(event.target.value === 'add' ? 'add' : 'top_up')
            }}
            className="field mt-1"
          >
            <option value="top_up">top up to the allowance</option>
            <option value="add">add the allowance</option>
          </select>
        </label>
        {text('Allowance ($)', allowance, setAllowance, 'empty: no refill', 'decimal')}
        {text('Rollover cap ($)', rollover, setRollover, 'with add only', 'decimal')}
        {text('Spending cap ($)', cap, setCap, 'per period; empty: none', 'decimal')}
        {text('Tokens per minute', tokens, setTokens, 'empty: no limit', 'numeric')}
        {text('Calls at once', inFlight, setInFlight, "empty: the deployment's", 'numeric')}
        {text('Calls per minute', perMinute, setPerMinute, "empty: the deployment's", 'numeric')}
      </div>
      {problem && (
        <p role="alert" className="text-sm text-red-800">
          {problem}
        </p>
      )}
      {error !== null && <ErrorMessage error={error} />}
      {saved && <p role="status">Policy saved.</p>}
      <button type="submit" disabled={busy} className="btn-primary">
        {busy ? 'Saving…' : 'Save policy'}
      </button>
    </form>
  )
}

function GrantForm({ email, onGranted }: { email: string; onGranted: () => void }) {
  const api = useApi()
  const [amount, setAmount] = useState('')
  const [reason, setReason] = useState('')
  const [problem, setProblem] = useState<string | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [done, setDone] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  async function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault()
    setDone(null)
    setError(null)
    const cents = parseDollarsToCents(amount)
    if (cents === null || cents < 1 || cents > GRANT_MAX_CENTS) {
      setProblem(`Enter an amount between $0.01 and ${formatCents(GRANT_MAX_CENTS)}.`)
      return
    }
    if (!reason.trim()) {
      setProblem('Say why: the reason is kept with the grant.')
      return
    }
    setProblem(null)
    setBusy(true)
    try {
      const grant = await api.createGrant({ email, amount_cents: cents, reason: reason.trim() })
      setDone(`Granted ${formatCents(grant.amount_cents)}; the balance is now ${formatCents(grant.balance_cents)}.`)
      setAmount('')
      setReason('')
      onGranted()
    } catch (failure) {
      setError(failure)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form onSubmit={(event) => void submit(event)} noValidate className="space-y-2" aria-label="Grant budget">
      <h3 className="font-medium">Grant budget</h3>
      <div className="grid gap-3 sm:grid-cols-2">
        <label className="text-sm">
          <span className="label">Amount ($)</span>
          <input
            value={amount}
            inputMode="decimal"
            onChange={(event) => {
              setAmount(event.target.value)
            }}
            className="field mt-1"
          />
        </label>
        <label className="text-sm">
          <span className="label">Reason</span>
          <input
            value={reason}
            maxLength={500}
            onChange={(event) => {
              setReason(event.target.value)
            }}
            className="field mt-1"
          />
        </label>
      </div>
      {problem && (
        <p role="alert" className="text-sm text-red-800">
          {problem}
        </p>
      )}
      {error !== null && <ErrorMessage error={error} />}
      {done && <p role="status">{done}</p>}
      <button type="submit" disabled={busy} className="btn-secondary">
        {busy ? 'Granting…' : 'Grant'}
      </button>
    </form>
  )
}

function UserLedger({ userId }: { userId: string }) {
  const api = useApi()
  const ledger = useLoad(() => api.getUserBudget(userId, { limit: 20 }))
  return (
    <div className="space-y-2">
      <h3 className="font-medium">Ledger (newest 20)</h3>
      {ledger.error !== null && <ErrorMessage error={ledger.error} />}
      {ledger.data &&
        (ledger.data.ledger.length === 0 ? (
          <p className="text-sm">No usage yet.</p>
        ) : (
          <div className="overflow-x-auto rounded-lg bg-white shadow-sm">
            <LedgerTable rows={ledger.data.ledger} />
          </div>
        ))}
    </div>
  )
}
