// The messages so far (the last answer perhaps still streaming in), the answer being waited for, and
// an unsent message with its error. The last answer's tool calls, while unanswered, come with the form
// that sends their results back.
import type { ReactNode } from 'react'
import type { ChatEntry, Outgoing, PendingSend, ToolResult } from './useConversation'
import { AnswerBubble } from './AnswerBubble'
import { ErrorMessage } from '../ui/ErrorMessage'

export function ConversationView({
  entries,
  pending,
  onRetry,
  onDiscard,
  canRetry,
  toolResultForm,
}: {
  entries: ChatEntry[]
  pending: PendingSend | null
  canRetry: boolean
  onRetry: () => void
  onDiscard: () => void
  /** Shown under the last answer when it asked for tools (null otherwise). */
  toolResultForm: ReactNode
}) {
  if (entries.length === 0 && !pending) {
    return <p className="py-8 text-center text-slate-500">Start the conversation below.</p>
  }
  return (
    <ol aria-label="Conversation" className="space-y-3">
      {entries.map((entry, index) => {
        if (entry.kind === 'user') return <UserBubble key={entry.id} text={entry.text} />
        if (entry.kind === 'tool') return <ToolResultsBubble key={entry.id} results={entry.results} />
        const last = index === entries.length - 1
        return (
          <AnswerBubble key={entry.id} answer={entry.answer}>
            {last && !pending && toolResultForm}
          </AnswerBubble>
        )
      })}
      {pending && (
        <>
          <OutgoingBubble outgoing={pending.outgoing} />
          {pending.status === 'sending' ? (
            <li role="status" className="text-sm text-slate-600">
              Waiting for the answer…
            </li>
          ) : (
            <li className="space-y-2">
              <ErrorMessage error={pending.error} />
              <div className="flex gap-2">
                <button type="button" onClick={onRetry} disabled={!canRetry} className="btn-secondary">
                  Try again
                </button>
                <button type="button" onClick={onDiscard} className="btn-secondary">
                  Discard and edit
                </button>
              </div>
            </li>
          )}
        </>
      )}
    </ol>
  )
}

function OutgoingBubble({ outgoing }: { outgoing: Outgoing }) {
  return outgoing.kind === 'user' ? (
    <UserBubble text={outgoing.text} />
  ) : (
    <ToolResultsBubble results={outgoing.results} />
  )
}

function UserBubble({ text }: { text: string }) {
  return (
    <li className="ml-auto max-w-[95%] rounded-lg bg-indigo-700 p-3 break-words whitespace-pre-wrap text-white sm:max-w-[85%]">
      <p className="sr-only">You:</p>
      {text}
    </li>
  )
}

function ToolResultsBubble({ results }: { results: ToolResult[] }) {
  return (
    <li className="ml-auto max-w-[95%] space-y-1 rounded-lg border border-indigo-200 bg-indigo-50 p-3 text-sm sm:max-w-[85%]">
      <p className="font-medium text-indigo-900">{results.length > 1 ? 'Tool results' : 'Tool result'}</p>
      <ul className="space-y-1">
        {results.map((result) => (
          <li key={result.callId} className="break-words whitespace-pre-wrap">
            <code className="font-semibold">{result.name}</code>: <code>{result.content || '(empty)'}</code>
          </li>
        ))}
      </ul>
    </li>
  )
}
