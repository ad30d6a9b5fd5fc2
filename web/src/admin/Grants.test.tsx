import { render, screen, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { App } from '../App'
import type { Grant, User } from '../api/types'
import {
  MEMBER,
  USER,
  budget,
  errorResponse,
  fakeFetch,
  jsonResponse,
  signedIn,
  signedInRoutes,
} from '../test/fakeApi'

function grant(overrides: Partial<Grant> = {}): Grant {
  return {
    grant_id: 'g-1',
    user_id: 'u-2',
    amount_cents: 550,
    amount_micros: 5_500_000,
    reason: 'pilot',
    granted_by: USER.id,
    balance_cents: 1550,
    balance_micros: 15_500_000,
    ...overrides,
  }
}

function open(hash: string, routes: Parameters<typeof fakeFetch>[0], user: User = USER) {
  signedIn('token-123', user)
  window.location.hash = hash
  const fake = fakeFetch({ ...signedInRoutes(), ...routes })
  render(<App />)
  return fake
}

async function fillGrant(email: string, amount: string, reason: string) {
  await userEvent.type(await screen.findByLabelText('Recipient email'), email)
  await userEvent.type(screen.getByLabelText('Amount (US dollars)'), amount)
  await userEvent.type(screen.getByLabelText('Reason'), reason)
  await userEvent.click(screen.getByRole('button', { name: 'Grant budget' }))
}

describe('the grants screen', () => {
  it('is in the navigation of an admin, by the role the session was given', async () => {
    const fake = open('#/chat', {})

    const nav = screen.getByRole('navigation', { name: 'Main' })
    expect(within(nav).getByRole('link', { name: 'Grants' })).toHaveAttribute('href', '#/grants')
    await screen.findByLabelText('Engine and model')
    expect(fake.callsTo('POST', '/v1/budget/grants')).toHaveLength(0)
  })

  it('is not offered to anyone else, even at its address', async () => {
    open('#/grants', {}, MEMBER)

    expect(screen.getByText('Only an admin can grant budget. Ask one if you need more.')).toBeInTheDocument()
    const nav = screen.getByRole('navigation', { name: 'Main' })
    expect(within(nav).getAllByRole('link').map((link) => link.textContent)).toEqual(['Chat', 'Usage', 'Agents', 'Personas', 'Keys'])
    expect(screen.queryByLabelText('Recipient email')).not.toBeInTheDocument()
    await screen.findByText('Budget left: $10.00')
  })

  it('is hidden from a session stored before the API sent roles', () => {
    open('#/grants', {}, { ...USER, role: undefined } as unknown as User)

    expect(screen.getByText('Only an admin can grant budget. Ask one if you need more.')).toBeInTheDocument()
    const nav = screen.getByRole('navigation', { name: 'Main' })
    expect(within(nav).queryByRole('link', { name: 'Grants' })).not.toBeInTheDocument()
  })

  it('grants dollars as whole cents, with the reason, and shows the new balance', async () => {
    const fake = open('#/grants', { 'POST /v1/budget/grants': () => jsonResponse(201, grant()) })

    await fillGrant('fnbo@helix.local', '5.50', '  pilot  ')

    expect(await screen.findByText('Granted $5.50 to fnbo@helix.local. Their balance is now $15.50.')).toBeInTheDocument()
    expect(fake.callsTo('POST', '/v1/budget/grants').map((call) => call.body)).toEqual([{
      email: 'fnbo@helix.local',
      amount_cents: 550,
      reason: 'pilot',
    }])
    expect(screen.getByLabelText('Amount (US dollars)')).toHaveValue('')
  })

  it('refreshes the banner after a grant to oneself', async () => {
    let balanceCents = 1000
    open('#/grants', {
      'GET /v1/budget': () => jsonResponse(200, budget({ balance_cents: balanceCents })),
      'POST /v1/budget/grants': () => {
        balanceCents = 1500
        return jsonResponse(201, grant({ user_id: USER.id, amount_cents: 500, balance_cents: 1500 }))
      },
    })
    await screen.findByText('Budget left: $10.00')

    await fillGrant(USER.email, '5', 'top up')

    expect(await screen.findByText('Budget left: $15.00')).toBeInTheDocument()
  })

  it('explains a bad amount before asking the API', async () => {
    const fake = open('#/grants', {})

    await fillGrant('fnbo@helix.local', '5.123', 'pilot')

    expect(screen.getByRole('alert')).toHaveTextContent('Enter the amount in dollars, like 5 or 12.50.')
    expect(fake.callsTo('POST', '/v1/budget/grants')).toHaveLength(0)
  })

  it("shows the API's message when the API refuses the grant (403)", async () => {
    open('#/grants', {
      'POST /v1/budget/grants': () => errorResponse(403, 'admin_only', 'only an admin may grant budget'),
    })

    await fillGrant('fnbo@helix.local', '5', 'pilot')

    expect(await screen.findByRole('alert')).toHaveTextContent('only an admin may grant budget')
    expect(screen.queryByText(/^Granted/)).not.toBeInTheDocument()
  })
})
