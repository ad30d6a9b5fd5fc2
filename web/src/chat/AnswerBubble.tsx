// One answer: its text growing as it streams in, why it ended early if it did, and what it cost.
// aria-busy while it streams, so assistive technology waits for the whole answer.
import type { ReactNode } from 'react'
import { formatCount, formatMicros } from '../ui/format'
import { asSentence } from '../ui/sentence'
import { isStreaming, type Answer } from './answer'
import { Markdown } from './Markdown'
import { TurnDetails } from './TurnDetails'

export function AnswerBubble({ answer, children }: { answer: Answer; children?: ReactNode }) {
  return (
    <li aria-busy={isStreaming(answer)} className="mr-auto max-w-[95%] rounded-lg bg-white p-3 shadow-sm sm:max-w-[85%]">
      <p className="sr-only">Answer:</p>
      <AnswerText answer={answer} />
      <EndingNotice answer={answer} />
      <TurnDetails answer={answer} />
      {children}
    </li>
  )
}

function AnswerText({ answer }: { answer: Answer }) {
  if (answer.text.trim()) return <Markdown text={answer.text} />
  const { kind } = answer.ending
  if (kind === 'streaming') return <p className="text-slate-500">Writing…</p>
  let empty = 'No text arrived before the answer ended.'
  if (kind === 'finished') {
    empty = answer.toolCalls.length > 0 ? 'No text: the model only asked for tools.' : 'No text: the answer was empty.'
  }
  return <p className="text-slate-600 italic">{empty}</p>
}

/** Only for an answer that did not end as the model meant it to. */
function EndingNotice({ answer }: { answer: Answer }) {
  const { ending } = answer
  if (ending.kind === 'failed') {
    const { failure } = ending
    return (
      <div role="alert" className="mt-2 rounded-md border border-red-300 bg-red-50 p-2 text-sm text-red-900">
        <p>
          {asSentence(failure.message)}{' '}
          {failure.charged.micros > 0
            ? `The text so far was charged: ${formatMicros(failure.charged.micros)}.`
            : 'Nothing was charged.'}
        </p>
      </div>
    )
  }
  if (ending.kind === 'cut') {
    return (
      <p role="alert" className="mt-2 rounded-md border border-amber-300 bg-amber-50 p-2 text-sm text-amber-900">
        The connection to Helix broke before the answer was finished. What was generated may have been charged.
      </p>
    )
  }
  if (ending.kind === 'finished' && ending.finishReason === 'length') {
    const limit = answer.turn ? ` of ${formatCount(answer.turn.max_tokens)} tokens` : ''
    return <Note>The answer reached its length limit{limit} and ends there.</Note>
  }
  if (ending.kind === 'finished' && ending.finishReason === 'content_filter') {
    return <Note>The provider&apos;s content filter ended the answer early.</Note>
  }
  return null
}

function Note({ children }: { children: ReactNode }) {
  return <p className="mt-2 text-sm text-amber-900">{children}</p>
}
