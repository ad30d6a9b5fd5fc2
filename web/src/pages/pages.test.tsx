import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { App } from '../App'
import type { LedgerEntry, Persona } from '../api/types'
import { agent, budget, errorResponse, fakeFetch, jsonResponse, signedIn, signedInRoutes } from '../test/fakeApi'

function ledgerRow(id: string, model: string): LedgerEntry {
  return {
    id,
    created_at: '2025-03-01T10:00:00Z',
    agent_id: 'a-openai',
    kind: 'completion',
    provider: 'openai',
    model,
    input_tokens: 1200,
    output_tokens: 30,
    cost_micros: 250,
    cost_cents: 0,
    trace_id: `1-${id}`,
    api_key_id: null,
  }
}

function persona(id: string, name: string): Persona {
  return { id, name, prompt: 'Talk like a pirate.', avatar_url: null, created_at: '2025-01-01T00:00:00Z', updated_at: '2025-01-01T00:00:00Z' }
}

function openPage(hash: string, routes: Parameters<typeof fakeFetch>[0]) {
  signedIn()
  window.location.hash = hash
  const fake = fakeFetch({ ...signedInRoutes(), ...routes })
  render(<App />)
  return fake
}

describe('the usage page', () => {
  it('shows the ledger as a table and pages through it with next_cursor', async () => {
    const fake = openPage('#/usage', {
      'GET /v1/budget': (call) =>
        call.path.includes('cursor=c2')
          ? jsonResponse(200, budget({ ledger: [ledgerRow('r2', 'gpt-4o')], next_cursor: null }))
          : jsonResponse(200, budget({ ledger: [ledgerRow('r1', 'gpt-4o-mini')], next_cursor: 'c2' })),
    })

    const table = await screen.findByRole('table')
    expect(within(table).getByText('gpt-4o-mini')).toBeInTheDocument()
    expect(within(table).getByText('1,200 / 30')).toBeInTheDocument()
    expect(within(table).getByText('$0.00025')).toBeInTheDocument()

    await userEvent.click(screen.getByRole('button', { name: 'Show older usage' }))

    expect(await within(table).findByText('gpt-4o')).toBeInTheDocument()
    expect(screen.queryByRole('button', { name: 'Show older usage' })).not.toBeInTheDocument()
    expect(fake.calls.some((call) => call.path === '/v1/budget?limit=20&cursor=c2')).toBe(true)
  })
})

describe('the agents page', () => {
  it('disables an active agent with PATCH', async () => {
    const fake = openPage('#/agents', {
      'PATCH /v1/agents/a-openai': () => jsonResponse(200, agent({ status: 'disabled' })),
      'GET /v1/agents/models': () => jsonResponse(200, { price_table_version: 'v1', providers: [] }),
    })

    await userEvent.click(await screen.findByRole('button', { name: 'Disable openai gpt-4o-mini' }))

    expect(fake.callsTo('PATCH', '/v1/agents/a-openai')[0]?.body).toEqual({ status: 'disabled' })
  })

  it('deletes an agent only after confirmation, and keeps it when the person says so', async () => {
    const user = userEvent.setup()
    const fake = openPage('#/agents', {
      'DELETE /v1/agents/a-claude': () => new Response(null, { status: 204 }),
      'GET /v1/agents/models': () => jsonResponse(200, { price_table_version: 'v1', providers: [] }),
    })

    await user.click(await screen.findByRole('button', { name: 'Delete anthropic claude-3-5-haiku' }))
    const dialog = screen.getByRole('alertdialog', { name: 'Delete anthropic claude-3-5-haiku?' })
    expect(dialog).toHaveTextContent('its usage stays on record')
    // The safe choice has the focus: Enter keeps the agent, and focus returns to Delete.
    expect(within(dialog).getByRole('button', { name: 'Keep it' })).toHaveFocus()
    await user.keyboard('{Enter}')
    expect(screen.queryByRole('alertdialog')).not.toBeInTheDocument()
    expect(screen.getByRole('button', { name: 'Delete anthropic claude-3-5-haiku' })).toHaveFocus()
    expect(fake.callsTo('DELETE', '/v1/agents/a-claude')).toHaveLength(0)

    await user.keyboard('{Enter}')
    await user.click(screen.getByRole('button', { name: 'Yes, delete' }))

    expect(fake.callsTo('DELETE', '/v1/agents/a-claude')).toHaveLength(1)
    await waitFor(() => {
      expect(fake.callsTo('GET', '/v1/agents').length).toBeGreaterThan(1)
    })
  })

  it("shows the API's message when a delete fails", async () => {
    openPage('#/agents', {
      'DELETE /v1/agents/a-openai': () => errorResponse(404, 'not_found', 'agent not found'),
      'GET /v1/agents/models': () => jsonResponse(200, { price_table_version: 'v1', providers: [] }),
    })

    await userEvent.click(await screen.findByRole('button', { name: 'Delete openai gpt-4o-mini' }))
    await userEvent.click(screen.getByRole('button', { name: 'Yes, delete' }))

    expect(await screen.findByRole('alert')).toHaveTextContent('agent not found')
  })

  it('adds an agent from the priced models of a provider', async () => {
    const fake = openPage('#/agents', {
      'GET /v1/agents/models': () =>
        jsonResponse(200, {
          price_table_version: 'v1',
          providers: [
            { provider: 'openai', any_model: false, models: [{ model: 'gpt-4o', input_per_mtok_micros: 1, cached_input_per_mtok_micros: 1, output_per_mtok_micros: 1 }] },
          ],
        }),
      'POST /v1/agents': () => jsonResponse(201, agent({ id: 'a-new', model: 'gpt-4o' })),
    })

    await userEvent.selectOptions(await screen.findByLabelText('Provider'), 'openai')
    await userEvent.selectOptions(screen.getByLabelText('Model'), 'gpt-4o')
    await userEvent.click(screen.getByRole('button', { name: 'Add agent' }))

    expect(await screen.findByText('Added openai · gpt-4o.')).toBeInTheDocument()
    expect(fake.callsTo('POST', '/v1/agents')[0]?.body).toEqual({ provider: 'openai', model: 'gpt-4o' })
  })
})

describe('the personas page', () => {
  it('counts the characters of a new persona and creates it', async () => {
    const fake = openPage('#/personas', {
      'GET /v1/personas': () => jsonResponse(200, { personas: [], next_cursor: null }),
      'POST /v1/personas': () => jsonResponse(201, persona('p-1', 'Pirate')),
    })

    await userEvent.type(await screen.findByLabelText('Name'), 'Pirate')
    await userEvent.type(screen.getByLabelText('Prompt'), 'Arr')

    expect(screen.getByText('6 / 80 characters')).toBeInTheDocument()
    expect(screen.getByText('3 / 32,000 characters')).toBeInTheDocument()
    await userEvent.click(screen.getByRole('button', { name: 'Create persona' }))
    expect(fake.callsTo('POST', '/v1/personas')[0]?.body).toEqual({ name: 'Pirate', prompt: 'Arr' })
  })

  it('deletes a persona only after confirmation', async () => {
    const fake = openPage('#/personas', {
      'GET /v1/personas': () => jsonResponse(200, { personas: [persona('p-1', 'Pirate')], next_cursor: null }),
      'DELETE /v1/personas/p-1': () => new Response(null, { status: 204 }),
    })

    await userEvent.click(await screen.findByRole('button', { name: 'Delete Pirate' }))
    expect(fake.callsTo('DELETE', '/v1/personas/p-1')).toHaveLength(0)
    await userEvent.click(screen.getByRole('button', { name: 'Yes, delete' }))

    expect(fake.callsTo('DELETE', '/v1/personas/p-1')).toHaveLength(1)
  })

  it('edits a persona with PATCH', async () => {
    const fake = openPage('#/personas', {
      'GET /v1/personas': () => jsonResponse(200, { personas: [persona('p-1', 'Pirate')], next_cursor: null }),
      'PATCH /v1/personas/p-1': () => jsonResponse(200, persona('p-1', 'Captain')),
    })

    await userEvent.click(await screen.findByRole('button', { name: 'Edit Pirate' }))
    const list = screen.getByRole('list', { name: 'Your personas' })
    const name = within(list).getByLabelText('Name')
    await userEvent.clear(name)
    await userEvent.type(name, 'Captain')
    await userEvent.click(within(list).getByRole('button', { name: 'Save changes' }))

    expect(fake.callsTo('PATCH', '/v1/personas/p-1')[0]?.body).toEqual({ name: 'Captain', prompt: 'Talk like a pirate.' })
  })
})
