import { render, screen, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { App } from '../App'
import type { TurnRequest } from '../api/types'
import { agent, errorResponse, fakeFetch, jsonResponse, signedIn, signedInRoutes, turn } from '../test/fakeApi'

async function openChat(routes: Parameters<typeof fakeFetch>[0]) {
  signedIn()
  const fake = fakeFetch({ ...signedInRoutes(), ...routes })
  render(<App />)
  await screen.findByLabelText('Engine and model')
  return fake
}

async function send(text: string) {
  await userEvent.type(screen.getByLabelText('Message'), text)
  await userEvent.click(screen.getByRole('button', { name: 'Send' }))
}

describe('the chat', () => {
  it('offers the personalities with their avatars and only the active agents', async () => {
    await openChat({})

    expect(screen.getByRole('radio', { name: /Helix assistant/ })).toBeChecked()
    expect(screen.getByRole('radio', { name: /Pirate/ })).toBeInTheDocument()
    expect(screen.getByText('🤖')).toBeInTheDocument()
    expect(document.querySelector('img[src="https://avatars.example/p-42.png"]')).not.toBeNull()
    const options = within(screen.getByLabelText('Engine and model')).getAllByRole('option')
    expect(options.map((o) => o.textContent)).toEqual(['openai · gpt-4o-mini', 'anthropic · claude-3-5-haiku'])
  })

  it('defaults to an agent whose provider can answer: with no API keys, the local model', async () => {
    signedIn()
    const fake = fakeFetch({
      ...signedInRoutes({
        agents: [agent({}), agent({ id: 'a-local', provider: 'local', model: 'smollm2-135m-instruct' })],
        availableProviders: ['local'],
      }),
      'POST /v1/turns': () => jsonResponse(200, turn({ text: 'hello from SmolLM2' })),
    })
    render(<App />)
    const picker = await screen.findByLabelText('Engine and model')
    expect((picker as HTMLSelectElement).selectedOptions[0]?.textContent).toBe('local · smollm2-135m-instruct')

    await send('hi')
    await screen.findByText('hello from SmolLM2')
    expect(fake.callsTo('POST', '/v1/turns')[0]?.body).toMatchObject({ engine: 'local', model: 'smollm2-135m-instruct' })
  })

  it('sends the whole conversation with the chosen personality, engine and model, one idempotency key per send', async () => {
    let answers = 0
    const fake = await openChat({
      'POST /v1/turns': () => jsonResponse(200, turn({ text: `answer ${++answers}` })),
    })
    await userEvent.click(screen.getByRole('radio', { name: /Pirate/ }))
    await userEvent.selectOptions(screen.getByLabelText('Engine and model'), 'anthropic · claude-3-5-haiku')

    await send('first question')
    await screen.findByText('answer 1')
    await send('second question')
    await screen.findByText('answer 2')

    const turns = fake.callsTo('POST', '/v1/turns')
    expect(turns[1]?.body).toEqual({
      engine: 'anthropic',
      model: 'claude-3-5-haiku',
      personalityId: 'p-42',
      messages: [
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: 'answer 1' },
        { role: 'user', content: 'second question' },
      ],
    } satisfies TurnRequest)
    const keys = turns.map((call) => call.headers.get('idempotency-key'))
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/)
    expect(keys[1]).not.toBe(keys[0])
  })

  it('renders markdown in the answer but never turns HTML into elements', async () => {
    await openChat({
      'POST /v1/turns': () =>
        jsonResponse(
          200,
          turn({ text: '**bold** and <script>window.hacked = true</script> <img src=x onerror="alert(1)"> [x](javascript:alert(1))' }),
        ),
    })

    await send('hi')

    const bold = await screen.findByText('bold')
    expect(bold.tagName).toBe('STRONG')
    const messages = screen.getByRole('list', { name: 'Conversation' })
    expect(messages.querySelector('script')).toBeNull()
    expect(messages.querySelector('img')).toBeNull()
    expect(messages.querySelector('a[href^="javascript"]')).toBeNull()
  })

  it('shows the token counts, the cost and a copyable trace id of each turn', async () => {
    const user = userEvent.setup()
    await openChat({ 'POST /v1/turns': () => jsonResponse(200, turn()) })

    await user.type(screen.getByLabelText('Message'), 'hi{Enter}')

    expect(await screen.findByText('Tokens: 12 in, 34 out')).toBeInTheDocument()
    expect(screen.getByText('Cost: $0.001234')).toBeInTheDocument()
    expect(screen.getByText('1-abc-def')).toBeInTheDocument()
    await user.click(screen.getByRole('button', { name: 'Copy trace id' }))
    expect(await navigator.clipboard.readText()).toBe('1-abc-def')
    expect(screen.getByText('Copied')).toBeInTheDocument()
  })

  it('lists the tool calls the model returned', async () => {
    await openChat({
      'POST /v1/turns': () =>
        jsonResponse(200, turn({ tool_calls: [{ id: 'c1', name: 'search', arguments: { q: 'rust' } }] })),
    })

    await send('look it up')

    const calls = await screen.findByRole('list', { name: 'Tool calls' })
    expect(calls).toHaveTextContent('search')
    expect(calls).toHaveTextContent('{"q":"rust"}')
  })

  it('shows the API error message and retries with the same idempotency key', async () => {
    let attempts = 0
    const fake = await openChat({
      'POST /v1/turns': () =>
        ++attempts === 1
          ? errorResponse(502, 'provider_error', 'The model provider failed; nothing was charged')
          : jsonResponse(200, turn({ text: 'it worked' })),
    })

    await send('hello')

    expect(await screen.findByRole('alert')).toHaveTextContent('The model provider failed; nothing was charged')
    expect(screen.getByText('Trace id:', { exact: false })).toHaveTextContent('1-trace-provider_error')
    await userEvent.click(screen.getByRole('button', { name: 'Try again' }))
    await screen.findByText('it worked')
    const [first, second] = fake.callsTo('POST', '/v1/turns')
    expect(second?.headers.get('idempotency-key')).toBe(first?.headers.get('idempotency-key'))
    expect(second?.body).toEqual(first?.body)
  })

  it('says how to get an engine when no agent is active', async () => {
    signedIn()
    fakeFetch(signedInRoutes({ agents: [] }))
    render(<App />)

    expect(await screen.findByRole('link', { name: 'Add or enable an agent' })).toHaveAttribute('href', '#/agents')
    expect(screen.getByLabelText('Message')).toBeDisabled()
  })

  it('sends the results of the tool calls back as tool messages, after the answer that asked for them', async () => {
    const user = userEvent.setup()
    const calls = [
      { id: 'call-1', name: 'calculator', arguments: { expression: '6*7' } },
      { id: 'call-2', name: 'get_current_time', arguments: { timezone: 'UTC' } },
    ]
    let answers = 0
    const fake = await openChat({
      'POST /v1/turns': () =>
        jsonResponse(200, ++answers === 1 ? turn({ text: '', tool_calls: calls }) : turn({ text: 'It is 42 at noon.' })),
    })

    await send('what is 6*7 and what time is it?')
    expect(await screen.findByText('No text: the model only asked for tools.')).toBeInTheDocument()
    const form = screen.getByRole('form', { name: 'The model asked to use tools' })
    expect(within(form).getByLabelText('Result of calculator (call 1)')).toHaveAccessibleDescription(/Arguments: \{"expression":"6\*7"\}/)
    await user.type(within(form).getByLabelText('Result of calculator (call 1)'), '42')
    await user.type(within(form).getByLabelText('Result of get_current_time (call 2)'), '12:00')
    await user.click(within(form).getByRole('button', { name: 'Send tool results' }))

    await screen.findByText('It is 42 at noon.')
    expect(fake.callsTo('POST', '/v1/turns')[1]?.body).toMatchObject({
      messages: [
        { role: 'user', content: 'what is 6*7 and what time is it?' },
        { role: 'assistant', tool_calls: calls },
        { role: 'tool', tool_call_id: 'call-1', content: '42' },
        { role: 'tool', tool_call_id: 'call-2', content: '12:00' },
      ],
    })
    expect((fake.callsTo('POST', '/v1/turns')[1]?.body as TurnRequest).messages[1]).not.toHaveProperty('content')
    expect(screen.getByText('Tool results')).toBeInTheDocument()
    expect(screen.queryByRole('form', { name: /asked to use/ })).not.toBeInTheDocument()
  })

  it('drops unanswered tool calls when the person writes a new message instead', async () => {
    let answers = 0
    const fake = await openChat({
      'POST /v1/turns': () =>
        jsonResponse(
          200,
          ++answers === 1
            ? turn({ text: 'Let me check.', tool_calls: [{ id: 'c1', name: 'calculator', arguments: {} }] })
            : turn({ text: 'ok' }),
        ),
    })

    await send('first')
    await screen.findByRole('form', { name: 'The model asked to use a tool' })
    await send('never mind')
    await screen.findByText('ok')

    expect((fake.callsTo('POST', '/v1/turns')[1]?.body as TurnRequest).messages).toEqual([
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'Let me check.' },
      { role: 'user', content: 'never mind' },
    ])
  })

  it('keeps typed tool results when their send fails and is discarded', async () => {
    let answers = 0
    await openChat({
      'POST /v1/turns': () =>
        ++answers === 1
          ? jsonResponse(200, turn({ text: '', tool_calls: [{ id: 'c1', name: 'calculator', arguments: {} }] }))
          : errorResponse(502, 'provider_error', 'The model provider failed; nothing was charged'),
    })
    await send('add it up')
    await userEvent.type(await screen.findByLabelText('Result of calculator'), '3')
    await userEvent.click(screen.getByRole('button', { name: 'Send tool result' }))

    expect(await screen.findByRole('alert')).toHaveTextContent('The model provider failed')
    await userEvent.click(screen.getByRole('button', { name: 'Discard and edit' }))

    expect(screen.getByLabelText('Result of calculator')).toHaveValue('3')
  })
})

