import { render, screen, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { App } from '../App'
import type { TurnRequest } from '../api/types'
import {
  agent,
  budget,
  errorResponse,
  eventStreamResponse,
  fakeFetch,
  jsonResponse,
  ledgerEntry,
  openStream,
  signedIn,
  signedInRoutes,
  sseEvent,
  streamedTurn,
  turnDone,
  turnStart,
} from '../test/fakeApi'

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

function theAnswer(): HTMLElement {
  const answers = within(screen.getByRole('list', { name: 'Conversation' }))
    .getAllByRole('listitem')
    .filter((item) => item.hasAttribute('aria-busy'))
  const last = answers.at(-1)
  if (!last) throw new Error('no answer yet')
  return last
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
      'POST /v1/turns': () => streamedTurn({ text: 'hello from SmolLM2' }),
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
      'POST /v1/turns': () => streamedTurn({ text: `answer ${++answers}` }),
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
      stream: true,
      save: true,
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
        streamedTurn({
          text: '**bold** and <script>window.hacked = true</script> <img src=x onerror="alert(1)"> [x](javascript:alert(1))',
        }),
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
    await openChat({ 'POST /v1/turns': () => streamedTurn() })

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
        streamedTurn({ tool_calls: [{ id: 'c1', name: 'search', arguments: { q: 'rust' } }] }),
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
          : streamedTurn({ text: 'it worked' }),
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
        ++answers === 1 ? streamedTurn({ text: '', tool_calls: calls }) : streamedTurn({ text: 'It is 42 at noon.' }),
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
        ++answers === 1
          ? streamedTurn({ text: 'Let me check.', tool_calls: [{ id: 'c1', name: 'calculator', arguments: {} }] })
          : streamedTurn({ text: 'ok' }),
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
          ? streamedTurn({ text: '', tool_calls: [{ id: 'c1', name: 'calculator', arguments: {} }] })
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

describe('a streamed answer', () => {
  it('grows as its text arrives, with Stop in place of Send, then shows its cost and the new balance', async () => {
    const stream = openStream()
    await openChat({ 'POST /v1/turns': () => stream.response })

    await send('hi')
    stream.write(sseEvent('start', turnStart()) + sseEvent('delta', { text: 'Hel' }))

    expect(await screen.findByText('Hel')).toBeInTheDocument()
    expect(theAnswer()).toHaveAttribute('aria-busy', 'true')
    expect(within(theAnswer()).getByText('Answering…')).toBeInTheDocument()
    expect(screen.getByRole('button', { name: 'Stop' })).toBeInTheDocument()
    expect(screen.queryByRole('button', { name: 'Send' })).not.toBeInTheDocument()

    stream.write(sseEvent('delta', { text: 'lo there' }))
    expect(await screen.findByText('Hello there')).toBeInTheDocument()

    stream.write(sseEvent('done', turnDone({ cost: { micros: 1234, cents: 0 }, budget: { remaining_cents: 987, remaining_micros: 9_870_000 } })))
    expect(await screen.findByText('Cost: $0.001234')).toBeInTheDocument()
    expect(screen.getByText('Tokens: 12 in, 34 out')).toBeInTheDocument()
    expect(screen.getByText('Budget left: $9.87')).toBeInTheDocument()
    expect(theAnswer()).toHaveAttribute('aria-busy', 'false')
    expect(screen.getByRole('button', { name: 'Send' })).toBeInTheDocument()
    expect(screen.queryByRole('button', { name: 'Stop' })).not.toBeInTheDocument()
  })

  it('lets the next message be written meanwhile, but not sent', async () => {
    const stream = openStream()
    const fake = await openChat({ 'POST /v1/turns': () => stream.response })
    await send('first')
    stream.write(sseEvent('start', turnStart()))
    await screen.findByRole('button', { name: 'Stop' })

    await userEvent.type(screen.getByLabelText('Message'), 'second{Enter}')

    expect(screen.getByLabelText('Message')).toHaveValue('second')
    expect(fake.callsTo('POST', '/v1/turns')).toHaveLength(1)
  })

  it('on Stop keeps the text so far, marks it stopped, and shows its cost once the ledger has it', async () => {
    const stream = openStream()
    let settled: (response: Response) => void = () => undefined
    let budgetReads = 0
    const fake = await openChat({
      'POST /v1/turns': () => stream.response,
      'GET /v1/budget': () =>
        ++budgetReads === 1
          ? jsonResponse(200, budget())
          : new Promise<Response>((resolve) => {
              settled = resolve
            }),
    })
    await send('tell me a long story')
    stream.write(sseEvent('start', turnStart()) + sseEvent('delta', { text: 'Once upon' }))
    await screen.findByText('Once upon')

    await userEvent.click(screen.getByRole('button', { name: 'Stop' }))

    expect(stream.cancelled).toBe(true)
    expect(await within(theAnswer()).findByText('cost updating…')).toBeInTheDocument()
    expect(within(theAnswer()).getByText('Stopped')).toBeInTheDocument()
    expect(within(theAnswer()).getByText('Once upon')).toBeInTheDocument()
    expect(theAnswer()).toHaveAttribute('aria-busy', 'false')

    settled(jsonResponse(200, budget({ balance_cents: 995, ledger: [ledgerEntry({ trace_id: '1-abc-def', cost_micros: 4567 })] })))
    expect(await within(theAnswer()).findByText('Cost: $0.004567')).toBeInTheDocument()
    expect(screen.getByText('Budget left: $9.95')).toBeInTheDocument()
    expect(fake.callsTo('GET', '/v1/budget').at(-1)?.path).toBe('/v1/budget?limit=10')

    // What was read goes on as part of the conversation.
    await send('go on')
    expect(fake.callsTo('POST', '/v1/turns')[1]?.body).toMatchObject({
      messages: [
        { role: 'user', content: 'tell me a long story' },
        { role: 'assistant', content: 'Once upon' },
        { role: 'user', content: 'go on' },
      ],
    })
  })

  it('stops on Escape in the message field too, and says so when the cost cannot be known', async () => {
    const stream = openStream()
    await openChat({ 'POST /v1/turns': () => stream.response })
    await send('hi')
    stream.write(sseEvent('start', turnStart()) + sseEvent('delta', { text: 'Partly' }))
    await screen.findByText('Partly')

    await userEvent.type(screen.getByLabelText('Message'), '{Escape}')

    expect(await within(theAnswer()).findByText(/cost not known yet/)).toHaveTextContent('cost not known yet: see Usage')
    expect(within(theAnswer()).getByText('Stopped')).toBeInTheDocument()
    expect(stream.cancelled).toBe(true)
  })

  it('on Stop before the answer begins, keeps the message and marks the empty answer stopped', async () => {
    await openChat({
      'POST /v1/turns': (call) =>
        new Promise<Response>((_, reject) => {
          call.signal?.addEventListener('abort', () => {
            reject(new DOMException('The operation was aborted.', 'AbortError'))
          })
        }),
    })
    await send('hello?')
    expect(await screen.findByText('Waiting for the answer…')).toBeInTheDocument()

    await userEvent.click(await screen.findByRole('button', { name: 'Stop' }))

    expect(await within(theAnswer()).findByText('No text arrived before the answer ended.')).toBeInTheDocument()
    expect(within(theAnswer()).getByText('Stopped')).toBeInTheDocument()
    expect(screen.getByText('hello?')).toBeInTheDocument()
    expect(screen.queryByRole('button', { name: 'Try again' })).not.toBeInTheDocument()
  })

  it('on a provider error mid-answer keeps the text so far and shows what was charged', async () => {
    await openChat({
      'POST /v1/turns': () =>
        new Response(
          sseEvent('start', turnStart()) +
            sseEvent('delta', { text: 'Half an answer' }) +
            sseEvent('error', {
              code: 'provider_error',
              message: 'the model provider failed mid-answer',
              trace_id: '1-abc-def',
              charged: { micros: 520, cents: 0 },
              budget: { remaining_cents: 998, remaining_micros: 9_980_000 },
            }),
          { headers: { 'content-type': 'text/event-stream; charset=utf-8' } },
        ),
    })

    await send('hi')

    expect(await within(theAnswer()).findByRole('alert')).toHaveTextContent(
      'The model provider failed mid-answer. The text so far was charged: $0.00052.',
    )
    expect(within(theAnswer()).getByText('Half an answer')).toBeInTheDocument()
    expect(within(theAnswer()).getByText('Charged: $0.00052')).toBeInTheDocument()
    expect(screen.getByText('Budget left: $9.98')).toBeInTheDocument()
    expect(screen.getByLabelText('Message')).toBeEnabled()
  })

  it('says nothing was charged when an error event charged nothing, and keeps the balance', async () => {
    await openChat({
      'POST /v1/turns': () =>
        eventStreamResponse(
          sseEvent('start', turnStart()) +
            sseEvent('error', { code: 'internal', message: 'Something went wrong', trace_id: null, charged: { micros: 0, cents: 0 } }),
        ),
    })

    await send('hi')

    expect(await within(theAnswer()).findByRole('alert')).toHaveTextContent('Something went wrong. Nothing was charged.')
    expect(screen.getByText('Budget left: $10.00')).toBeInTheDocument()
  })

  it('says so when the stream breaks off before it is done', async () => {
    const stream = openStream()
    await openChat({ 'POST /v1/turns': () => stream.response })
    await send('hi')
    stream.write(sseEvent('start', turnStart()) + sseEvent('delta', { text: 'Cut' }))
    await screen.findByText('Cut')

    stream.close()

    expect(await within(theAnswer()).findByRole('alert')).toHaveTextContent('The connection to Helix broke before the answer was finished.')
    expect(within(theAnswer()).getByText('Broke off')).toBeInTheDocument()
    expect(await within(theAnswer()).findByText(/cost not known yet/)).toBeInTheDocument()
  })

  it('shows tool calls from the stream once the answer is done, with the form for their results', async () => {
    const stream = openStream()
    await openChat({ 'POST /v1/turns': () => stream.response })
    await send('add it up')
    stream.write(sseEvent('start', turnStart()) + sseEvent('tool_call', { id: 'c1', name: 'calculator', arguments: { expression: '1+2' } }))

    expect(await screen.findByRole('list', { name: 'Tool calls' })).toHaveTextContent('{"expression":"1+2"}')
    expect(screen.queryByRole('form', { name: 'The model asked to use a tool' })).not.toBeInTheDocument()

    stream.write(sseEvent('done', turnDone({ tool_calls: [{ id: 'c1', name: 'calculator', arguments: {} }] })))
    expect(await screen.findByRole('form', { name: 'The model asked to use a tool' })).toBeInTheDocument()
  })
})
