// The messages so far, the answer being waited for, and an unsent message with its error.
import type { ChatEntry, PendingSend } from './useConversation'
import { Markdown } from './Markdown'
import { TurnDetails } from './TurnDetails'
import { ErrorMessage } from '../ui/ErrorMessage'

export function ConversationView({
  entries,
  pending,
  onRetry,
  onDiscard,
  canRetry,
}: {
  entries: ChatEntry[]
  pending: PendingSend | null
  canRetry: boolean
  onRetry: () => void
  onDiscard: () => void
}) {
  if (entries.length === 0 && !pending) {
    return <p className="py-8 text-center text-slate-500">Start the conversation below.</p>
  }
  return (
    <ol aria-label="Conversation" className="space-y-3">
      {entries.map((entry) =>
        entry.kind === 'user' ? (
          <UserBubble key={entry.id} text={entry.text} />
        ) : (
          <li key={entry.id} className="mr-auto max-w-[95%] rounded-lg bg-white p-3 shadow-sm sm:max-w-[85%]">
            <p className="sr-only">Answer:</p>
            <Markdown text={entry.turn.text} />
            <TurnDetails turn={entry.turn} />
          </li>
        ),
      )}
      {pending && (
        <>
          <UserBubble text={pending.text} />
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

function UserBubble({ text }: { text: string }) {
  return (
    <li className="ml-auto max-w-[95%] whitespace-pre-wrap break-words rounded-lg bg-indigo-700 p-3 text-white sm:max-w-[85%]">
      <p className="sr-only">You:</p>
      {text}
    </li>
  )
}
