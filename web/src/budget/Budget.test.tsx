import { render, screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { App } from '../App'
import { budget, errorResponse, fakeFetch, jsonResponse, signedIn, signedInRoutes, streamedTurn } from '../test/fakeApi'

describe('the budget banner and lockout', () => {
  it('shows the remaining budget on load and updates it from each turn', async () => {
    signedIn()
    fakeFetch({
      ...signedInRoutes({ balanceCents: 1000 }),
      'POST /v1/turns': () => streamedTurn({ budget: { remaining_cents: 987, remaining_micros: 9_870_000 } }),
    })
    render(<App />)

    expect(await screen.findByText('Budget left: $10.00')).toBeInTheDocument()
    await screen.findByLabelText('Engine and model')
    await userEvent.type(screen.getByLabelText('Message'), 'hi{Enter}')

    expect(await screen.findByText('Budget left: $9.87')).toBeInTheDocument()
  })

  it('disables the composer and explains the lockout at a balance of 0', async () => {
    signedIn()
    fakeFetch(signedInRoutes({ balanceCents: 0 }))
    render(<App />)

    expect(await screen.findByRole('heading', { name: 'Your budget is used up' })).toBeInTheDocument()
    expect(screen.getByText(/ask an admin for more budget/)).toBeInTheDocument()
    expect(screen.getByLabelText('Message')).toBeDisabled()
    expect(screen.getByRole('button', { name: 'Send' })).toBeDisabled()
    expect(screen.getByLabelText('Engine and model')).toBeDisabled()
  })

  it('locks the chat after a 402, with the API message, the balance and what the turn needed', async () => {
    signedIn()
    fakeFetch({
      ...signedInRoutes({ balanceCents: 2 }),
      'POST /v1/turns': () =>
        errorResponse(402, 'budget_exhausted', 'Your budget cannot pay for this turn.', {
          balance_cents: 2,
          required_cents: 5,
        }),
    })
    render(<App />)
    await screen.findByLabelText('Engine and model')

    await userEvent.type(screen.getByLabelText('Message'), 'hi{Enter}')

    const panel = await screen.findByRole('alert', { name: 'Your budget is used up' })
    expect(panel).toHaveTextContent('Your budget cannot pay for this turn. Balance: $0.02. This turn needed $0.05.')
    expect(panel).toHaveTextContent('ask an admin for more budget')
    expect(screen.getByLabelText('Message')).toBeDisabled()
    expect(screen.getByRole('button', { name: 'Try again' })).toBeDisabled()
  })

  it("writes the API's lower-case message as a sentence in the panel", async () => {
    signedIn()
    fakeFetch({
      ...signedInRoutes({ balanceCents: 1 }),
      'POST /v1/turns': () =>
        errorResponse(402, 'budget_exhausted', 'the budget is exhausted', { balance_cents: 1, required_cents: 23 }),
    })
    render(<App />)
    await screen.findByLabelText('Engine and model')

    await userEvent.type(screen.getByLabelText('Message'), 'hi{Enter}')

    const panel = await screen.findByRole('alert', { name: 'Your budget is used up' })
    expect(panel).toHaveTextContent('The budget is exhausted. Balance: $0.01. This turn needed $0.23.')
  })

  it('lifts the lockout when a check shows an admin granted more budget', async () => {
    signedIn()
    let balanceCents = 0
    fakeFetch({
      ...signedInRoutes(),
      'GET /v1/budget': () => jsonResponse(200, budget({ balance_cents: balanceCents })),
    })
    render(<App />)
    await screen.findByRole('heading', { name: 'Your budget is used up' })

    balanceCents = 500
    await userEvent.click(screen.getByRole('button', { name: 'Check my budget again' }))

    expect(await screen.findByText('Budget left: $5.00')).toBeInTheDocument()
    expect(screen.queryByRole('heading', { name: 'Your budget is used up' })).not.toBeInTheDocument()
    expect(screen.getByLabelText('Message')).toBeEnabled()
  })

  it("locks on the period's spending cap with its own words, and lifts when an admin raises the cap", async () => {
    signedIn()
    let capMicros = 2_000_000
    fakeFetch({
      ...signedInRoutes(),
      'GET /v1/budget': () =>
        jsonResponse(200, budget({ spend_cap_cents: capMicros / 10_000, spend_cap_micros: capMicros, spent_micros_this_period: 2_000_000 })),
      'POST /v1/turns': () =>
        errorResponse(402, 'spend_cap_reached', 'the spending cap for this period is reached', {
          cap_cents: 200,
          spent_cents: 200,
          held_cents: 0,
        }),
    })
    render(<App />)
    await screen.findByLabelText('Engine and model')

    await userEvent.type(screen.getByLabelText('Message'), 'hi{Enter}')

    const panel = await screen.findByRole('alert', { name: "This period's spending cap is reached" })
    expect(panel).toHaveTextContent('The spending cap for this period is reached.')
    expect(panel).toHaveTextContent('Calls resume when the next period starts')
    expect(screen.getByLabelText('Message')).toBeDisabled()

    capMicros = 5_000_000
    await userEvent.click(screen.getByRole('button', { name: 'Check my budget again' }))

    await waitFor(() => {
      expect(screen.queryByRole('alert', { name: "This period's spending cap is reached" })).not.toBeInTheDocument()
    })
    // The refused message waits to be sent again.
    expect(screen.getByRole('button', { name: 'Try again' })).toBeEnabled()
  })
})
