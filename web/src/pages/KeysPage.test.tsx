import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { App } from '../App'
import type { ApiKey } from '../api/types'
import { errorResponse, fakeFetch, jsonResponse, signedIn, signedInRoutes } from '../test/fakeApi'

function apiKey(overrides: Partial<ApiKey> = {}): ApiKey {
  return {
    id: 'k-1',
    name: 'nightly report',
    prefix: 'hx_AbCd1234',
    created_at: '2026-12-01T10:00:00Z',
    last_used_at: null,
    expires_at: null,
    expired: false,
    spend_limit_cents: 500,
    spent_micros: 1_250_000,
    spent_cents: 125,
    held_micros: 0,
    ...overrides,
  }
}

function openKeys(routes: Parameters<typeof fakeFetch>[0]) {
  signedIn()
  window.location.hash = '#/keys'
  const fake = fakeFetch({ ...signedInRoutes(), ...routes })
  render(<App />)
  return fake
}

describe('the keys page', () => {
  it('lists each key with its prefix and its spend against its limit', async () => {
    openKeys({
      'GET /v1/keys': () =>
        jsonResponse(200, { keys: [apiKey(), apiKey({ id: 'k-2', name: 'laptop', spend_limit_cents: null, spent_micros: 0 })] }),
    })

    const list = await screen.findByRole('list', { name: 'Your keys' })
    expect(within(list).getAllByText('hx_AbCd1234…')).toHaveLength(2)
    expect(within(list).getByText('$1.25 of $5.00 spent')).toBeInTheDocument()
    expect(within(list).getByText('$0.00 spent · no limit')).toBeInTheDocument()
  })

  it('creates a key with a limit and shows its secret once, to copy', async () => {
    const fake = openKeys({
      'GET /v1/keys': () => jsonResponse(200, { keys: [] }),
      'POST /v1/keys': () =>
        jsonResponse(201, {
          id: 'k-new',
          name: 'ci',
          key: 'hx_secretsecretsecretsecretsecretsecretsecret',
          prefix: 'hx_secretse',
          expires_at: null,
          spend_limit_cents: 250,
          created_at: '2026-12-01T10:00:00Z',
        }),
    })

    await userEvent.type(await screen.findByLabelText('Name'), 'ci')
    await userEvent.type(screen.getByLabelText('Spend limit in dollars (optional)'), '2.50')
    await userEvent.click(screen.getByRole('button', { name: 'Create key' }))

    const notice = await screen.findByRole('region', { name: 'Your new key' })
    expect(within(notice).getByLabelText('New key')).toHaveTextContent('hx_secretsecretsecretsecretsecretsecretsecret')
    expect(within(notice).getByRole('button', { name: 'Copy key' })).toBeInTheDocument()
    expect(fake.callsTo('POST', '/v1/keys')[0]?.body).toEqual({ name: 'ci', spend_limit_cents: 250 })

    await userEvent.click(within(notice).getByRole('button', { name: 'I have copied it' }))
    expect(screen.queryByText('hx_secretsecretsecretsecretsecretsecretsecret')).not.toBeInTheDocument()
  })

  it('revokes a key only after confirmation', async () => {
    const fake = openKeys({
      'GET /v1/keys': () => jsonResponse(200, { keys: [apiKey()] }),
      'DELETE /v1/keys/k-1': () => new Response(null, { status: 204 }),
    })

    await userEvent.click(await screen.findByRole('button', { name: 'Revoke key nightly report' }))
    expect(screen.getByRole('alertdialog')).toHaveTextContent('stops working at once')
    expect(fake.callsTo('DELETE', '/v1/keys/k-1')).toHaveLength(0)
    await userEvent.click(screen.getByRole('button', { name: 'Yes, delete' }))

    expect(fake.callsTo('DELETE', '/v1/keys/k-1')).toHaveLength(1)
    await waitFor(() => {
      expect(fake.callsTo('GET', '/v1/keys').length).toBeGreaterThan(1)
    })
  })

  it("shows the API's message when creating fails", async () => {
    openKeys({
      'GET /v1/keys': () => jsonResponse(200, { keys: [] }),
      'POST /v1/keys': () => errorResponse(409, 'too_many_keys', 'you already hold 100 keys'),
    })

    await userEvent.type(await screen.findByLabelText('Name'), 'one more')
    await userEvent.click(screen.getByRole('button', { name: 'Create key' }))

    expect(await screen.findByRole('alert')).toHaveTextContent('you already hold 100 keys')
  })
})
