// Chat: pick a personality and an engine, then talk (answers stream in; Stop ends one early); answer
// the tool calls an answer asks for. Locked (composer and tool results disabled) when the budget is spent.
import { useState } from 'react'
import { useApi } from '../api/context'
import { useBudget } from '../budget/context'
import { LockoutPanel } from '../budget/LockoutPanel'
import { hrefFor } from '../router'
import { ErrorMessage } from '../ui/ErrorMessage'
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
  const conversation = useConversation()
  const [chosenPersonalityId, setPersonalityId] = useState<string | null>(null)
  const [chosenAgentId, setAgentId] = useState<string | null>(null)
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
  const agent =
    agentList.find((a) => a.id === chosenAgentId) ??
    agentList.find((a) => available.includes(a.provider)) ??
    agentList[0]

  const { busy } = conversation
  const unsent = conversation.pending?.status === 'failed'
  let disabledReason: string | null = null
  if (locked) disabledReason = 'Your budget is used up.'
  else if (!agent) disabledReason = 'No active engine: add or enable one on the Agents page.'
  else if (!personality) disabledReason = 'No personality to talk to yet.'
  else if (unsent) disabledReason = 'Try the unsent message again, or discard it first.'
  const controlsDisabled = locked || busy

  const toolCalls = unansweredToolCalls(conversation.entries)

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

  function discard() {
    const outgoing = conversation.discard()
    if (outgoing?.kind === 'user') setDraft(outgoing.text)
    if (outgoing?.kind === 'tool') {
      setToolDraft(Object.fromEntries(outgoing.results.map((result) => [result.callId, result.content])))
    }
  }

  return (
    <div className="space-y-4">
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
              onSelect={setPersonalityId}
              disabled={controlsDisabled}
            />
            {agentList.length > 0 ? (
              <EnginePicker
                agents={agentList}
                selectedId={agent?.id ?? null}
                onSelect={setAgentId}
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
        <button
          type="button"
          onClick={() => {
            conversation.reset()
            setToolDraft({})
          }}
          disabled={busy || (conversation.entries.length === 0 && !conversation.pending)}
          className="btn-secondary"
        >
          New conversation
        </button>
      </section>

      <section aria-label="Messages">
        <ConversationView
          entries={conversation.entries}
          pending={conversation.pending}
          canRetry={!locked}
          onRetry={() => void conversation.retry()}
          onDiscard={discard}
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
  )
}
