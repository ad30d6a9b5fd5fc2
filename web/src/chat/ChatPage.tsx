// Chat: pick a personality and an engine, then talk (answers stream in; Stop ends one early); answer
// the tool calls an answer asks for. Locked (composer and tool results disabled) when the budget is spent.
// Every chat is stored: the sidebar lists them, each has its own URL (/c/{id}), and the page shows
// what the conversation has cost so far, with regenerate, edit, versions and export.
import { useCallback, useEffect, useRef, useState } from 'react'
import { useApi } from '../api/context'
import { useBudget } from '../budget/context'
import { LockoutPanel } from '../budget/LockoutPanel'
import { ExportButtons } from '../conversations/ExportButtons'
import { openConversation, useConversationPath } from '../conversations/location'
import { Sidebar } from '../conversations/Sidebar'
import { hrefFor } from '../router'
import { ErrorMessage } from '../ui/ErrorMessage'
import { formatMicros } from '../ui/format'
import { useLoad } from '../ui/useLoad'
import { Composer } from './Composer'
import { ConversationView } from './ConversationView'
import { EnginePicker } from './EnginePicker'
import { PersonalityPicker } from './PersonalityPicker'
import { ToolResultForm } from './ToolResultForm'
import { unansweredToolCalls, useConversation, type TurnTarget } from './useConversation'

const DEFAULT_PERSONALITY = 'helix-assistant'

export function ChatPage() {
  const api = useApi()
  const { locked } = useBudget()
  const personalities = useLoad(async () => (await api.listPersonalities()).personalities)
  const agents = useLoad(async () => {
    const answer = await api.listAgents()
    return {
      active: answer.agents.filter((agent) => agent.status === 'active'),
      available: answer.available_providers,
    }
  })
  const pathId = useConversationPath()
  // The conversation this page saved itself: its new URL must not load it over the answer streaming in.
  const savedHere = useRef<string | null>(null)
  // Bumped when a turn is stored, so the sidebar reads its list again.
  const [changed, setChanged] = useState(0)
  const [sidebarOpen, setSidebarOpen] = useState(false)
  const [openError, setOpenError] = useState<unknown>(null)
  const onSaved = useCallback((id: string) => {
    savedHere.current = id
    openConversation(id, { replace: true })
    setChanged((value) => value + 1)
  }, [])
  const conversation = useConversation({ onSaved })
  const [chosenPersonalityId, setPersonalityId] = useState<string | null>(null)
  const [chosenAgentId, setAgentId] = useState<string | null>(null)
  // What the person picked while a stored conversation was loading wins over what it last used.
  const pickedWhileOpening = useRef({ personality: false, agent: false })
  const choosePersonality = useCallback((id: string) => {
    pickedWhileOpening.current.personality = true
    setPersonalityId(id)
  }, [])
  const chooseAgent = useCallback((id: string) => {
    pickedWhileOpening.current.agent = true
    setAgentId(id)
  }, [])
  const [draft, setDraft] = useState('')
  // The results typed for the last answer's tool calls, by call id.
  const [toolDraft, setToolDraft] = useState<Record<string, string>>({})

  const personalityList = personalities.data ?? []
  const agentList = agents.data?.active ?? []
  const available = agents.data?.available ?? []
  // Until the person chooses, default to the standard assistant (or the first) and the first agent
  // whose provider can answer (with no API keys, that is the local model).
  const personality =
    personalityList.find((p) => p.id === chosenPersonalityId) ??
    personalityList.find((p) => p.id === DEFAULT_PERSONALITY) ??
    personalityList[0]
  const stored = conversation.stored
  const agent =
    agentList.find((a) => a.id === chosenAgentId) ??
    agentList.find((a) => stored !== null && a.provider === stored.engine && a.model === stored.model) ??
    agentList.find((a) => available.includes(a.provider)) ??
    agentList[0]

  const { busy } = conversation
  const unsent = conversation.pending?.status === 'failed'
  // The URL names a stored conversation that has not loaded (nor failed to) yet.
  const opening = pathId !== null && pathId !== conversation.conversationId && openError === null
  let disabledReason: string | null = null
  if (locked) disabledReason = 'Your budget is used up.'
  else if (!agent) disabledReason = 'No active engine: add or enable one on the Agents page.'
  else if (!personality) disabledReason = 'No personality to talk to yet.'
  else if (unsent) disabledReason = 'Try the unsent message again, or discard it first.'
  // Until the conversation the URL names has loaded, a message would go to the wrong one.
  else if (opening) disabledReason = 'Opening the conversation…'
  const controlsDisabled = locked || busy

  const toolCalls = unansweredToolCalls(conversation.entries)

  // The URL names the conversation to show: a link, a reload, Back and the sidebar all go through it.
  const { conversationId, load, reset } = conversation
  useEffect(() => {
    if (pathId === conversationId || (pathId !== null && pathId === savedHere.current)) return
    setOpenError(null)
    if (pathId === null) {
      reset()
      return
    }
    let current = true
    pickedWhileOpening.current = { personality: false, agent: false }
    api.getConversation(pathId).then(
      (stored) => {
        if (!current) return
        load(stored)
        // It continues with the personality, engine and model it last used (when the person has
        // them), unless the person picked another while it loaded.
        if (!pickedWhileOpening.current.personality) setPersonalityId(stored.personality_id)
        if (!pickedWhileOpening.current.agent) setAgentId(null)
      },
      (error: unknown) => {
        if (current) setOpenError(error)
      },
    )
    return () => {
      current = false
    }
  }, [api, pathId, conversationId, load, reset])

  function target(): TurnTarget | null {
    if (!agent || !personality || locked) return null
    return { engine: agent.provider, model: agent.model, personalityId: personality.id }
  }

  function sendDraft() {
    const to = target()
    if (!to) return
    const text = draft.trim()
    setDraft('')
    void conversation.send(text, to)
  }

  function sendToolResults() {
    const to = target()
    if (!to || toolCalls.length === 0) return
    const results = toolCalls.map((call) => ({
      callId: call.id,
      name: call.name,
      content: toolDraft[call.id] ?? '',
    }))
    setToolDraft({})
    void conversation.sendToolResults(results, to)
  }

  function newChat() {
    savedHere.current = null
    setToolDraft({})
    setSidebarOpen(false)
    if (pathId === null) reset()
    else openConversation(null)
  }

  const actions = conversation.conversationId
    ? {
        disabled: controlsDisabled || disabledReason !== null,
        onRegenerate: () => {
          const to = target()
          if (to) void conversation.regenerate(to)
        },
        onEdit: (messageId: string, text: string) => {
          const to = target()
          if (to) void conversation.edit(messageId, text, to)
        },
        onSwitchVersion: (messageId: string) => {
          conversation.switchVersion(messageId).catch((error: unknown) => {
            setOpenError(error)
          })
        },
      }
    : undefined

  function discard() {
    const outgoing = conversation.discard()
    if (outgoing?.kind === 'user') setDraft(outgoing.text)
    if (outgoing?.kind === 'tool') {
      setToolDraft(Object.fromEntries(outgoing.results.map((result) => [result.callId, result.content])))
    }
  }

  return (
    <div className="md:grid md:grid-cols-[14rem_minmax(0,1fr)] md:items-start md:gap-4">
      <div className="mb-3 md:mb-0">
        <button
          type="button"
          aria-expanded={sidebarOpen}
          aria-controls="conversation-sidebar"
          onClick={() => {
            setSidebarOpen((value) => !value)
          }}
          className="btn-secondary w-full md:hidden"
        >
          {sidebarOpen ? 'Hide conversations' : 'Conversations'}
        </button>
        <div id="conversation-sidebar" className={`${sidebarOpen ? 'mt-2 block' : 'hidden'} md:mt-0 md:block`}>
          <Sidebar
            activeId={conversation.conversationId}
            changed={changed}
            onNewChat={newChat}
            newChatDisabled={busy}
            onChanged={(id, deleted) => {
              if (deleted && id === conversation.conversationId) newChat()
            }}
          />
        </div>
      </div>
    <div className="min-w-0 space-y-4">
      {conversation.stored && (
        <section aria-label="This conversation" className="flex flex-wrap items-center justify-between gap-2 rounded-lg bg-white p-3 shadow-sm">
          <h1 className="min-w-0 truncate text-base font-semibold">{conversation.stored.title}</h1>
          <span className="text-sm text-slate-700">Conversation cost: {formatMicros(conversation.stored.cost.micros)}</span>
          <ExportButtons conversationId={conversation.stored.id} />
        </section>
      )}
      {openError !== null && <ErrorMessage error={openError} />}
      <section aria-label="Chat settings" className="space-y-3 rounded-lg bg-white p-3 shadow-sm sm:p-4">
        {personalities.error !== null && <ErrorMessage error={personalities.error} />}
        {agents.error !== null && <ErrorMessage error={agents.error} />}
        {personalities.loading || agents.loading ? (
          <p role="status" className="text-sm text-slate-600">
            Loading personalities and engines…
          </p>
        ) : (
          <>
            <PersonalityPicker
              personalities={personalityList}
              selectedId={personality?.id ?? null}
              onSelect={choosePersonality}
              disabled={controlsDisabled}
            />
            {agentList.length > 0 ? (
              <EnginePicker
                agents={agentList}
                selectedId={agent?.id ?? null}
                onSelect={chooseAgent}
                disabled={controlsDisabled}
              />
            ) : (
              agents.error === null && (
                <p className="text-sm">
                  You have no active engine. <a href={hrefFor('agents')} className="text-indigo-700 underline">Add or enable an agent</a>.
                </p>
              )
            )}
          </>
        )}
      </section>

      <section aria-label="Messages">
        <ConversationView
          entries={conversation.entries}
          pending={conversation.pending}
          canRetry={!locked}
          onRetry={() => void conversation.retry()}
          onDiscard={discard}
          actions={actions}
          toolResultForm={
            toolCalls.length > 0 && (
              <ToolResultForm
                calls={toolCalls}
                values={toolDraft}
                onChange={(callId, value) => {
                  setToolDraft((current) => ({ ...current, [callId]: value }))
                }}
                onSend={sendToolResults}
                disabled={controlsDisabled || disabledReason !== null}
              />
            )
          }
        />
      </section>

      {locked && <LockoutPanel />}
      <Composer
        value={draft}
        onChange={setDraft}
        onSend={sendDraft}
        onStop={conversation.stop}
        answering={busy}
        disabled={locked || disabledReason !== null}
        disabledReason={disabledReason}
      />
    </div>
    </div>
  )
}
