import { describe, expect, it } from 'vitest'
import { createApiClient } from '../api/client'
import { helixApi } from '../api/helix'
import type { Budget } from '../api/types'
import { budget, fakeFetch, jsonResponse, ledgerEntry } from '../test/fakeApi'
import { settledCharge } from './settledCharge'

/** Answers GET /v1/budget with each of `budgets` in turn, then the last one again. */
function apiAnswering(...budgets: Budget[]) {
  const fake = fakeFetch({ 'GET /v1/budget': () => jsonResponse(200, budgets.length > 1 ? budgets.shift() : budgets[0]) })
  return { api: helixApi(createApiClient({ baseUrl: '', getToken: () => 't' })), fake }
}

const HOLD_OPEN = { open_holds: { count: 1, micros: 1_100_000 } }
const FAST = { delayMs: 0 }

describe('waiting for a stopped turn to be settled', () => {
  it('asks again while the hold is open, until the ledger shows the turn with its cost', async () => {
    const { api, fake } = apiAnswering(
      budget({ balance_cents: 880, ...HOLD_OPEN }),
      budget({ balance_cents: 995, ledger: [ledgerEntry({ trace_id: '1-other' }), ledgerEntry({ trace_id: '1-t', cost_micros: 4567 })] }),
    )

    expect(await settledCharge(api, '1-t', FAST)).toEqual({ balanceCents: 995, costMicros: 4567 })
    expect(fake.calls).toHaveLength(2)
  })

  it('gives no cost when no hold is open and the ledger has no row for the turn', async () => {
    const { api, fake } = apiAnswering(budget({ balance_cents: 1000 }))

    expect(await settledCharge(api, '1-t', FAST)).toEqual({ balanceCents: 1000, costMicros: null })
    expect(fake.calls).toHaveLength(1)
  })

  it('gives up after its attempts with the latest balance and no cost', async () => {
    const { api, fake } = apiAnswering(budget({ balance_cents: 880, ...HOLD_OPEN }))

    expect(await settledCharge(api, '1-t', { ...FAST, attempts: 3 })).toEqual({ balanceCents: 880, costMicros: null })
    expect(fake.calls).toHaveLength(3)
  })

  it('without a trace id (stopped before the answer began) waits only for the holds to close', async () => {
    const { api } = apiAnswering(budget({ balance_cents: 880, ...HOLD_OPEN }), budget({ balance_cents: 990 }))

    expect(await settledCharge(api, null, FAST)).toEqual({ balanceCents: 990, costMicros: null })
  })
})
