import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { App } from '../App'
import type { LedgerEntry, Persona } from '../api/types'
import { agent, budget, errorResponse, fakeFetch, jsonResponse, signedIn, signedInRoutes, stubObjectUrls } from '../test/fakeApi'

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
    personality_id: 'p-pirate',
    personality_name: 'Pirate',
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

function summary(groupBy: string, groups: { key: string; stack?: string | null; name?: string | null; cost_micros: number }[]) {
  const full = groups.map((g) => ({ stack: null, name: null, calls: 1, input_tokens: 10, output_tokens: 5, cost_cents: 0, ...g }))
  const cost = full.reduce((sum, g) => sum + g.cost_micros, 0)
  return {
    from: '2025-03-01T00:00:00Z',
    to: '2025-04-01T00:00:00Z',
    group_by: groupBy,
    stack_by: groupBy === 'day' ? 'model' : null,
    time_zone: 'UTC',
    groups: full,
    total: { calls: full.length, input_tokens: 10 * full.length, output_tokens: 5 * full.length, cost_micros: cost, cost_cents: 0 },
  }
}

const summaryRoute = {
  'GET /v1/budget/summary': (call: { path: string }) => {
    const groupBy = new URL(call.path, 'http://x').searchParams.get('group_by') ?? 'day'
    if (groupBy === 'day') return jsonResponse(200, summary('day', [{ key: '2025-03-02', stack: 'gpt-4o-mini', cost_micros: 1500 }]))
    if (groupBy === 'personality') {
      return jsonResponse(
        200,
        summary('personality', [
          { key: 'p-pirate', name: 'Pirate', cost_micros: 1000 },
          { key: '', name: 'No personality', cost_micros: 500 },
        ]),
      )
    }
    return jsonResponse(200, summary('model', [{ key: 'gpt-4o-mini', cost_micros: 1000 }, { key: 'claude', cost_micros: 500 }]))
  },
}

describe('the usage page', () => {
  it('shows the ledger as a table and pages through it with next_cursor', async () => {
    const fake = openPage('#/usage', {
      ...summaryRoute,
      'GET /v1/budget': (call) =>
        call.path.includes('cursor=c2')
          ? jsonResponse(200, budget({ ledger: [ledgerRow('r2', 'gpt-4o')], next_cursor: null }))
          : jsonResponse(200, budget({ ledger: [ledgerRow('r1', 'gpt-4o-mini')], next_cursor: 'c2' })),
    })

    const table = await screen.findByRole('table', { name: 'Usage ledger, newest first' })
    expect(within(table).getByText('gpt-4o-mini')).toBeInTheDocument()
    expect(within(table).getByText('1,200 / 30')).toBeInTheDocument()
    expect(within(table).getByText('Pirate')).toBeInTheDocument()
    expect(within(table).getByText('$0.00025')).toBeInTheDocument()

    await userEvent.click(screen.getByRole('button', { name: 'Show older usage' }))

    expect(await within(table).findByText('gpt-4o')).toBeInTheDocument()
    expect(screen.queryByRole('button', { name: 'Show older usage' })).not.toBeInTheDocument()
    expect(fake.calls.some((call) => call.path === '/v1/budget?limit=20&cursor=c2')).toBe(true)
  })

  it('shows the period, allowance, cap and next refill, the daily chart and totals by model and personality', async () => {
    const fake = openPage('#/usage', {
      ...summaryRoute,
      'GET /v1/budget': () =>
        jsonResponse(
          200,
          budget({
            spent_micros_this_period: 1500,
            allowance: { amount_cents: 2000, amount_micros: 20_000_000, refill_rule: 'top_up', rollover_cap_cents: null, rollover_cap_micros: null },
            spend_cap_cents: 3000,
            spend_cap_micros: 30_000_000,
            next_refill_at: '2025-04-01T00:00:00Z',
          }),
        ),
    })

    expect(await screen.findByText('$20.00')).toBeInTheDocument()
    expect(screen.getByText('$30.00')).toBeInTheDocument()
    expect(screen.getByText('Next refill')).toBeInTheDocument()
    expect(await screen.findByRole('figure', { name: 'Spend per day' })).toBeInTheDocument()
    const byModel = await screen.findByRole('table', { name: 'By model' })
    expect(within(byModel).getByText('claude')).toBeInTheDocument()
    expect(within(byModel).getByText('$0.0015')).toBeInTheDocument()
    const byPersonality = await screen.findByRole('table', { name: 'By personality' })
    expect(within(byPersonality).getByText('Pirate')).toBeInTheDocument()
    expect(within(byPersonality).getByText('No personality')).toBeInTheDocument()
    expect(within(byPersonality).queryByText('p-pirate')).not.toBeInTheDocument()
    const daily = fake.callsTo('GET', '/v1/budget/summary').find((call) => call.path.includes('group_by=day'))
    expect(daily?.path).toContain('stack_by=model')
    expect(daily?.path).toContain('from=2025-03-01T00%3A00%3A00Z')
  })

  it('exports the filtered ledger as CSV', async () => {
    const urls = stubObjectUrls()
    const fake = openPage('#/usage', {
      ...summaryRoute,
      'GET /v1/budget': () => jsonResponse(200, budget({ ledger: [ledgerRow('r1', 'gpt-4o-mini')] })),
      'GET /v1/budget/export.csv': () =>
        new Response('id,created_at\nr1,2025-03-01\n', { status: 200, headers: { 'content-type': 'text/csv' } }),
    })

    await userEvent.type(await screen.findByLabelText('Agent id'), 'a-openai')
    await userEvent.click(screen.getByRole('button', { name: 'Filter' }))
    await userEvent.click(screen.getByRole('button', { name: 'Export CSV' }))

    await waitFor(() => {
      expect(fake.callsTo('GET', '/v1/budget/export.csv')).toHaveLength(1)
    })
    expect(fake.callsTo('GET', '/v1/budget/export.csv')[0]?.path).toBe('/v1/budget/export.csv?agent_id=a-openai')
    expect(fake.calls.some((call) => call.path === '/v1/budget?limit=20&agent_id=a-openai')).toBe(true)
    await waitFor(() => {
      expect(urls.created).toHaveLength(1)
    })
    urls.restore()
  })

  it('shows a banner when this period\'s spend crossed the alert threshold', async () => {
    openPage('#/usage', {
      ...summaryRoute,
      'GET /v1/budget': () =>
        jsonResponse(
          200,
          budget({
            alerts: [
              {
                id: 'al-1',
                user_id: 'u-1',
                kind: 'cap_threshold',
                alert_key: 'monthly:2025-03-01',
                spent_micros: 16_000_000,
                limit_micros: 20_000_000,
                details: {},
                created_at: '2025-03-20T00:00:00Z',
              },
            ],
          }),
        ),
    })

    expect(await screen.findByText(/You have spent \$16\.00 of this period's \$20\.00 spending cap/)).toBeInTheDocument()
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
