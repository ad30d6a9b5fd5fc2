import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { App } from '../App'
import type { User, UserBudget } from '../api/types'
import { MEMBER, USER, budget, errorResponse, fakeFetch, jsonResponse, signedIn, signedInRoutes } from '../test/fakeApi'

function userRow(overrides: Partial<UserBudget> = {}): UserBudget {
  return {
    id: 'u-2',
    email: 'member@helix.local',
    role: 'user',
    created_at: '2025-01-01T00:00:00Z',
    balance_micros: 4_000_000,
    balance_cents: 400,
    open_holds: 1,
    held_micros: 2_000,
    period_spent_micros: 6_000_000,
    period_spent_cents: 600,
    policy_source: 'default',
    period: 'monthly',
    time_zone: 'UTC',
    allowance_micros: 10_000_000,
    refill_rule: 'top_up',
    rollover_cap_micros: null,
    spend_cap_micros: null,
    max_calls_in_flight: null,
    max_calls_per_minute: null,
    max_tokens_per_minute: null,
    ...overrides,
  }
}

function open(routes: Parameters<typeof fakeFetch>[0], user: User = USER) {
  signedIn('token-123', user)
  window.location.hash = '#/users'
  const fake = fakeFetch({
    ...signedInRoutes(),
    'GET /v1/admin/users': () => jsonResponse(200, { users: [userRow()], next_cursor: null, default_policy: null }),
    'GET /v1/admin/users/u-2/budget': () => jsonResponse(200, budget()),
    ...routes,
  })
  render(<App />)
  return fake
}

describe('the users page', () => {
  it('lists every user with balance, allowance, period spend, holds and cap', async () => {
    open({})
    const table = await screen.findByRole('table', { name: 'Users and their budgets' })
    const row = within(table).getAllByRole('row')[1]
    expect(row).toHaveTextContent('member@helix.local')
    const cells = within(row as HTMLElement)
    expect(cells.getByText('$4.00')).toBeInTheDocument()
    expect(cells.getByText('$10.00')).toBeInTheDocument()
    expect(cells.getByText('$6.00')).toBeInTheDocument()
    expect(cells.getByText('1 ($0.002)')).toBeInTheDocument()
  })

  it("sets a user's policy with PUT and shows the API's refusal", async () => {
    let refuse = true
    const fake = open({
      'PUT /v1/admin/users/u-2/policy': () =>
        refuse
          ? errorResponse(400, 'invalid_request', 'time_zone: must be an IANA time zone name such as Europe/Paris')
          : jsonResponse(200, {}),
    })
    await userEvent.click(await screen.findByRole('button', { name: 'Manage member@helix.local' }))
    const form = screen.getByRole('form', { name: 'Budget policy' })
    await userEvent.type(within(form).getByLabelText('Allowance ($)'), '20')
    await userEvent.type(within(form).getByLabelText('Spending cap ($)'), '30.50')
    await userEvent.selectOptions(within(form).getByLabelText('Period'), 'weekly')
    await userEvent.clear(within(form).getByLabelText('Time zone'))
    await userEvent.type(within(form).getByLabelText('Time zone'), 'Mars/Olympus')
    await userEvent.click(within(form).getByRole('button', { name: 'Save policy' }))

    expect(await within(form).findByRole('alert')).toHaveTextContent('time_zone: must be an IANA time zone name')
    expect(fake.callsTo('PUT', '/v1/admin/users/u-2/policy')[0]?.body).toEqual({
      period: 'weekly',
      time_zone: 'Mars/Olympus',
      refill_rule: 'top_up',
      allowance_cents: 2000,
      spend_cap_cents: 3050,
    })

    refuse = false
    await userEvent.clear(within(form).getByLabelText('Time zone'))
    await userEvent.type(within(form).getByLabelText('Time zone'), 'Europe/Paris')
    await userEvent.click(within(form).getByRole('button', { name: 'Save policy' }))
    expect(await within(form).findByText('Policy saved.')).toBeInTheDocument()
  })

  it('refuses a negative or malformed amount before calling the API', async () => {
    const fake = open({})
    await userEvent.click(await screen.findByRole('button', { name: 'Manage member@helix.local' }))
    const form = screen.getByRole('form', { name: 'Budget policy' })
    await userEvent.type(within(form).getByLabelText('Allowance ($)'), '-5')
    await userEvent.click(within(form).getByRole('button', { name: 'Save policy' }))
    expect(await within(form).findByRole('alert')).toHaveTextContent('The allowance must be an amount in dollars')
    expect(fake.callsTo('PUT', '/v1/admin/users/u-2/policy')).toHaveLength(0)
  })

  it('grants budget to the user and shows their ledger', async () => {
    const fake = open({
      'POST /v1/budget/grants': () =>
        jsonResponse(201, {
          grant_id: 'g-1',
          user_id: 'u-2',
          amount_cents: 500,
          amount_micros: 5_000_000,
          reason: 'pilot',
          granted_by: USER.id,
          balance_cents: 900,
          balance_micros: 9_000_000,
        }),
    })
    await userEvent.click(await screen.findByRole('button', { name: 'Manage member@helix.local' }))
    const form = screen.getByRole('form', { name: 'Grant budget' })
    await userEvent.type(within(form).getByLabelText('Amount ($)'), '5')
    await userEvent.type(within(form).getByLabelText('Reason'), 'pilot')
    await userEvent.click(within(form).getByRole('button', { name: 'Grant' }))
    expect(await within(form).findByText('Granted $5.00; the balance is now $9.00.')).toBeInTheDocument()
    expect(fake.callsTo('POST', '/v1/budget/grants')[0]?.body).toEqual({
      email: 'member@helix.local',
      amount_cents: 500,
      reason: 'pilot',
    })
    await waitFor(() => {
      expect(fake.callsTo('GET', '/v1/admin/users/u-2/budget')).toHaveLength(1)
    })
  })

  it('is not offered to members, and tells them so', async () => {
    open({}, MEMBER)
    expect(await screen.findByText("Only an admin can see every user's budget.")).toBeInTheDocument()
    expect(screen.queryByRole('link', { name: 'Users' })).not.toBeInTheDocument()
  })
})
