// What a turn cost and how to find it again: model, tokens, exact cost, trace id, tool calls. A
// stopped answer's cost comes from the ledger once the server has settled it, never guessed.
import { hrefFor } from '../router'
import { CopyButton } from '../ui/CopyButton'
import { formatCount, formatMicros } from '../ui/format'
import type { Answer, AnswerEnding, StoppedCharge } from './answer'
import type { ToolCall } from '../api/types'

export function TurnDetails({ answer }: { answer: Answer }) {
  const { turn, toolCalls, ending } = answer
  return (
    <div className="mt-2 space-y-1 border-t border-slate-200 pt-2 text-xs text-slate-600">
      {toolCalls.length > 0 && <ToolCallList calls={toolCalls} />}
      <p>
        {turn && (
          <>
            <span>{turn.engine} · {turn.model}</span>
            {' · '}
          </>
        )}
        <CostLine ending={ending} />
      </p>
      {turn?.max_tokens_reduced && (
        <p>The answer was limited to {formatCount(turn.max_tokens)} tokens to fit the remaining budget.</p>
      )}
      {turn && (
        <p className="flex flex-wrap items-center gap-2">
          <span>
            Trace id: <code className="select-all break-all">{turn.trace_id}</code>
          </span>
          <CopyButton value={turn.trace_id} label="Copy trace id" />
        </p>
      )}
    </div>
  )
}

function CostLine({ ending }: { ending: AnswerEnding }) {
  switch (ending.kind) {
    case 'streaming':
      return <span className="animate-pulse">Answering…</span>
    case 'finished':
      return (
        <>
          <span>
            Tokens: {formatCount(ending.usage.input_tokens)} in, {formatCount(ending.usage.output_tokens)} out
            {ending.usageEstimated && ' (estimated: the provider reported none)'}
          </span>
          {' · '}
          <span>Cost: {formatMicros(ending.cost.micros)}</span>
        </>
      )
    case 'failed':
      return <span>Charged: {formatMicros(ending.failure.charged.micros)}</span>
    case 'stopped':
    case 'cut':
      return (
        <>
          <span className="rounded bg-slate-200 px-1.5 py-0.5 font-semibold text-slate-800">
            {ending.kind === 'stopped' ? 'Stopped' : 'Broke off'}
          </span>
          {' · '}
          <StoppedCost charge={ending.charge} />
        </>
      )
  }
}

function StoppedCost({ charge }: { charge: StoppedCharge }) {
  if (charge.state === 'settling') return <span>cost updating…</span>
  if (charge.state === 'settled') return <span>Cost: {formatMicros(charge.costMicros)}</span>
  return (
    <span>
      cost not known yet: see <a href={hrefFor('usage')} className="text-indigo-700 underline">Usage</a>
    </span>
  )
}

function ToolCallList({ calls }: { calls: ToolCall[] }) {
  return (
    <div>
      <p className="font-medium text-slate-700">Tool calls</p>
      <ul aria-label="Tool calls" className="list-disc pl-5">
        {calls.map((call) => (
          <li key={call.id}>
            <code>{call.name}</code>{' '}
            <code className="break-all text-slate-500">{JSON.stringify(call.arguments)}</code>
          </li>
        ))}
      </ul>
    </div>
  )
}
