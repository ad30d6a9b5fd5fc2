import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { App } from '../App'
import type { Conversation, StoredMessage, TurnRequest } from '../api/types'
import type { ChatEntry } from '../chat/useConversation'
import {
  eventStreamResponse,
  fakeFetch,
  jsonResponse,
  signedIn,
  signedInRoutes,
  sseEvent,
  turnDone,
  turnStart,
} from '../test/fakeApi'
import { entriesOf } from './history'
import { conversationFromPath, conversationHref } from './location'
import { mergeStored } from './merge'

const ID = 'conv0000000000000000001'

function message(overrides: Partial<StoredMessage> & Pick<StoredMessage, 'id' | 'role' | 'content'>): StoredMessage {
  return {
    parent_id: null,
    tool_calls: [],
    tool_call_id: null,
    status: 'complete',
    usage: overrides.role === 'assistant' ? { input_tokens: 10, output_tokens: 5 } : null,
    cost: { micros: overrides.role === 'assistant' ? 1500 : 0, cents: 0 },
    trace_id: '1-stored',
    created_at: '2026-12-01T00:00:00Z',
    versions: [overrides.id],
    version: 1,
    ...overrides,
  }
}

function conversation(messages: StoredMessage[], overrides: Partial<Conversation> = {}): Conversation {
  return {
    id: ID,
    title: 'Trip to Lisbon',
    personality_id: 'helix-assistant',
    engine: 'openai',
    model: 'gpt-4o-mini',
    pinned: false,
    archived: false,
    current_message_id: messages.at(-1)?.id ?? null,
    message_count: messages.length,
    usage: { input_tokens: 10, output_tokens: 5 },
    cost: { micros: messages.reduce((sum, m) => sum + m.cost.micros, 0), cents: 0 },
    last_message_at: '2026-12-01T00:00:00Z',
    created_at: '2026-12-01T00:00:00Z',
    updated_at: '2026-12-01T00:00:00Z',
    messages,
    ...overrides,
  }
}

function listed(c: Conversation) {
  const { messages: _, ...summary } = c
  return { ...summary, snippet: null }
}

/** A streamed answer that names its conversation, as a saved turn's does. */
function savedTurn(text: string, conversationId = ID): Response {
  return eventStreamResponse(
    [
      sseEvent('start', { ...turnStart(), conversation_id: conversationId }),
      sseEvent('delta', { text }),
      sseEvent('done', { ...turnDone(), conversation_id: conversationId, message_id: 'a-new', history_omitted: 0 }),
    ].join(''),
  )
}

const QUESTION = message({ id: 'q1', role: 'user', content: 'Where should I eat in Lisbon?' })
const ANSWER = message({ id: 'a1', role: 'assistant', content: 'Try the pastéis de nata.', parent_id: 'q1' })

async function openApp(routes: Parameters<typeof fakeFetch>[0]) {
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

describe('stored conversations', () => {
  it('saves the first turn, moves to its own URL, then sends only the new message with its id', async () => {
    let stored = conversation([QUESTION, ANSWER])
    const fake = await openApp({
      'POST /v1/turns': () => savedTurn('Try the pastéis de nata.'),
      [`GET /v1/conversations/${ID}`]: () => jsonResponse(200, stored),
    })

    await send('Where should I eat in Lisbon?')
    await screen.findByText('Try the pastéis de nata.')
    await waitFor(() => {
      expect(window.location.pathname).toBe(`/c/${ID}`)
    })
    expect(await screen.findByText('Conversation cost: $0.0015')).toBeInTheDocument()
    stored = conversation([QUESTION, ANSWER, message({ id: 'q2', role: 'user', content: 'And for dinner?', parent_id: 'a1' })])
    await send('And for dinner?')

    const [first, second] = fake.callsTo('POST', '/v1/turns').map((call) => call.body as TurnRequest)
    expect(first).toMatchObject({ save: true, messages: [{ role: 'user', content: 'Where should I eat in Lisbon?' }] })
    expect(first).not.toHaveProperty('conversation_id')
    expect(second).toMatchObject({ conversation_id: ID, messages: [{ role: 'user', content: 'And for dinner?' }] })
    expect(second).not.toHaveProperty('save')
  })

  it('opens the conversation its URL names, as after a reload, and lists it in the sidebar', async () => {
    window.history.replaceState(null, '', `/c/${ID}`)
    const stored = conversation([QUESTION, ANSWER])
    await openApp({
      [`GET /v1/conversations/${ID}`]: () => jsonResponse(200, stored),
      'GET /v1/conversations': () => jsonResponse(200, { conversations: [listed(stored)], next_cursor: null }),
    })

    expect(await screen.findByText('Try the pastéis de nata.')).toBeInTheDocument()
    expect(screen.getByText('Where should I eat in Lisbon?')).toBeInTheDocument()
    expect(screen.getByRole('heading', { name: 'Trip to Lisbon' })).toBeInTheDocument()
    const sidebar = screen.getByRole('navigation', { name: 'Conversations' })
    const link = await within(sidebar).findByRole('link', { name: /Trip to Lisbon/ })
    expect(link).toHaveAttribute('href', conversationHref(ID))
    expect(link).toHaveAttribute('aria-current', 'page')
  })

  it('waits for the conversation its URL names, and keeps a personality picked meanwhile', async () => {
    window.history.replaceState(null, '', `/c/${ID}`)
    let arrive: (response: Response) => void = () => undefined
    await openApp({
      [`GET /v1/conversations/${ID}`]: () =>
        new Promise<Response>((resolve) => {
          arrive = resolve
        }),
    })

    expect(await screen.findByText('Opening the conversation…')).toBeInTheDocument()
    expect(screen.getByRole('button', { name: 'Send' })).toBeDisabled()
    await userEvent.click(screen.getByRole('radio', { name: /Pirate/ }))
    arrive(jsonResponse(200, conversation([QUESTION, ANSWER])))

    expect(await screen.findByText('Try the pastéis de nata.')).toBeInTheDocument()
    expect(screen.getByRole('radio', { name: /Pirate/ })).toBeChecked()
    expect(screen.queryByText('Opening the conversation…')).not.toBeInTheDocument()
  })

  it('regenerates the last answer, then switches back to the earlier version', async () => {
    window.history.replaceState(null, '', `/c/${ID}`)
    const second = message({ id: 'a2', role: 'assistant', content: 'Eat at Time Out Market.', parent_id: 'q1', versions: ['a1', 'a2'], version: 2 })
    const both = { ...ANSWER, versions: ['a1', 'a2'], version: 1 }
    let stored = conversation([QUESTION, ANSWER])
    const fake = await openApp({
      [`GET /v1/conversations/${ID}`]: () => jsonResponse(200, stored),
      'POST /v1/turns': () => {
        stored = conversation([QUESTION, second])
        return savedTurn('Eat at Time Out Market.')
      },
      [`PATCH /v1/conversations/${ID}`]: () => jsonResponse(200, conversation([QUESTION, both])),
    })
    await screen.findByText('Try the pastéis de nata.')

    await userEvent.click(screen.getByRole('button', { name: 'Regenerate' }))
    await screen.findByText('Eat at Time Out Market.')
    expect(fake.callsTo('POST', '/v1/turns')[0]?.body).toMatchObject({ conversation_id: ID, regenerate: true, messages: [] })
    const versions = await screen.findByRole('group', { name: 'Versions of this answer' })
    expect(versions).toHaveTextContent('2 / 2')
    await userEvent.click(within(versions).getByRole('button', { name: 'Previous version of this answer' }))

    expect(await screen.findByText('Try the pastéis de nata.')).toBeInTheDocument()
    expect(fake.callsTo('PATCH', `/v1/conversations/${ID}`)[0]?.body).toEqual({ active_message_id: 'a1' })
  })

  it('edits an earlier question and sends it as a new version', async () => {
    window.history.replaceState(null, '', `/c/${ID}`)
    const fake = await openApp({
      [`GET /v1/conversations/${ID}`]: () => jsonResponse(200, conversation([QUESTION, ANSWER])),
      'POST /v1/turns': () => savedTurn('Then try Ramiro.'),
    })
    await screen.findByText('Try the pastéis de nata.')

    await userEvent.click(screen.getByRole('button', { name: 'Edit' }))
    const form = screen.getByRole('form', { name: 'Edit your message' })
    const field = within(form).getByLabelText('Edited message')
    await userEvent.clear(field)
    await userEvent.type(field, 'Where should I eat seafood?')
    await userEvent.click(within(form).getByRole('button', { name: 'Send edit' }))

    await screen.findByText('Then try Ramiro.')
    expect(fake.callsTo('POST', '/v1/turns')[0]?.body).toMatchObject({
      conversation_id: ID,
      edit_message_id: 'q1',
      messages: [{ role: 'user', content: 'Where should I eat seafood?' }],
    })
    expect(screen.queryByText('Where should I eat in Lisbon?')).not.toBeInTheDocument()
  })

  it('renames, pins and, after a confirmation, deletes a conversation from the sidebar', async () => {
    const stored = conversation([QUESTION, ANSWER])
    const fake = await openApp({
      'GET /v1/conversations': () => jsonResponse(200, { conversations: [listed(stored)], next_cursor: null }),
      [`PATCH /v1/conversations/${ID}`]: () => jsonResponse(200, stored),
      [`DELETE /v1/conversations/${ID}`]: () => jsonResponse(204, null),
    })
    const sidebar = screen.getByRole('navigation', { name: 'Conversations' })
    await within(sidebar).findByRole('link', { name: /Trip to Lisbon/ })

    await userEvent.click(within(sidebar).getByRole('button', { name: 'Actions for Trip to Lisbon' }))
    await userEvent.click(within(sidebar).getByRole('button', { name: 'Rename' }))
    const title = within(sidebar).getByLabelText('New title')
    await userEvent.clear(title)
    await userEvent.type(title, 'Lisbon food{Enter}')
    await waitFor(() => {
      expect(fake.callsTo('PATCH', `/v1/conversations/${ID}`)[0]?.body).toEqual({ title: 'Lisbon food' })
    })
    await userEvent.click(within(sidebar).getByRole('button', { name: 'Actions for Trip to Lisbon' }))
    await userEvent.click(within(sidebar).getByRole('button', { name: 'Pin' }))
    await waitFor(() => {
      expect(fake.callsTo('PATCH', `/v1/conversations/${ID}`)[1]?.body).toEqual({ pinned: true })
    })
    await userEvent.click(within(sidebar).getByRole('button', { name: 'Actions for Trip to Lisbon' }))
    await userEvent.click(within(sidebar).getByRole('button', { name: 'Delete' }))
    expect(fake.callsTo('DELETE', `/v1/conversations/${ID}`)).toHaveLength(0)
    const confirm = within(sidebar).getByRole('alertdialog', { name: 'Delete Trip to Lisbon?' })
    await userEvent.click(within(confirm).getByRole('button', { name: 'Yes, delete' }))

    await waitFor(() => {
      expect(fake.callsTo('DELETE', `/v1/conversations/${ID}`)).toHaveLength(1)
    })
  })

  it('searches titles and messages as the person types', async () => {
    const fake = await openApp({})
    await userEvent.type(screen.getByLabelText('Search conversations'), 'nata')

    await waitFor(() => {
      expect(fake.callsTo('GET', '/v1/conversations').at(-1)?.path).toBe('/v1/conversations?q=nata&archived=false')
    })
  })
})

describe('the conversation in the chat', () => {
  it('reads its id from the path, and nothing else', () => {
    expect(conversationFromPath(`/c/${ID}`)).toBe(ID)
    expect(conversationFromPath('/')).toBeNull()
    expect(conversationFromPath('/c/NOT ok')).toBeNull()
    expect(conversationHref(null)).toBe('/#/chat')
  })

  it('groups tool results and names their tools from the call that asked', () => {
    const asked = message({
      id: 'a1',
      role: 'assistant',
      content: '',
      tool_calls: [{ id: 'c1', name: 'calculator', arguments: {} }, { id: 'c2', name: 'get_current_time', arguments: {} }],
    })
    const entries = entriesOf(
      conversation([
        QUESTION,
        asked,
        message({ id: 't1', role: 'tool', content: '4', tool_call_id: 'c1' }),
        message({ id: 't2', role: 'tool', content: 'noon', tool_call_id: 'c2' }),
        message({ id: 'a2', role: 'assistant', content: 'Stopped here', status: 'stopped' }),
      ]),
    )
    expect(entries.map((e) => e.kind)).toEqual(['user', 'assistant', 'tool', 'assistant'])
    expect(entries[2]).toMatchObject({ results: [{ name: 'calculator', content: '4' }, { name: 'get_current_time', content: 'noon' }] })
    expect(entries[3]).toMatchObject({ answer: { ending: { kind: 'stopped', charge: { state: 'settled', costMicros: 1500 } } } })
  })

  it('keeps what it showed after a turn and takes the stored ids, or the server when they differ', () => {
    const server = entriesOf(conversation([QUESTION, ANSWER]))
    const shown: ChatEntry[] = [
      { kind: 'user', id: 'local-1', text: 'Where should I eat in Lisbon?' },
      { kind: 'assistant', id: 'local-2', answer: { ...(server[1] as Extract<ChatEntry, { kind: 'assistant' }>).answer, text: 'as streamed' } },
    ]
    const merged = mergeStored(shown, server)
    expect(merged[1]).toMatchObject({ id: 'local-2', answer: { text: 'as streamed' }, stored: { messageId: 'a1' } })
    expect(mergeStored(shown.slice(0, 1), server)).toBe(server)
  })
})
