// What a turn cost and how to find it again: tokens, exact cost, model, trace id, tool calls.
import type { TurnResponse } from '../api/types'
import { CopyButton } from '../ui/CopyButton'
import { formatCount, formatMicros } from '../ui/format'

export function TurnDetails({ turn }: { turn: TurnResponse }) {
  return (
    <div className="mt-2 space-y-1 border-t border-slate-200 pt-2 text-xs text-slate-600">
      {turn.tool_calls.length > 0 && <ToolCallList turn={turn} />}
      <p>
        <span>{turn.engine} · {turn.model}</span>
        {' · '}
        <span>
          Tokens: {formatCount(turn.usage.input_tokens)} in, {formatCount(turn.usage.output_tokens)} out
        </span>
        {' · '}
        <span>Cost: {formatMicros(turn.cost.micros)}</span>
      </p>
      {turn.max_tokens_reduced && (
        <p>The answer was limited to {formatCount(turn.max_tokens)} tokens to fit the remaining budget.</p>
      )}
      <p className="flex flex-wrap items-center gap-2">
        <span>
          Trace id: <code className="select-all break-all">{turn.trace_id}</code>
        </span>
        <CopyButton value={turn.trace_id} label="Copy trace id" />
      </p>
    </div>
  )
}

function ToolCallList({ turn }: { turn: TurnResponse }) {
  return (
    <div>
      <p className="font-medium text-slate-700">Tool calls</p>
      <ul aria-label="Tool calls" className="list-disc pl-5">
        {turn.tool_calls.map((call) => (
          <li key={call.id}>
            <code>{call.name}</code>{' '}
            <code className="break-all text-slate-500">{JSON.stringify(call.arguments)}</code>
          </li>
        ))}
      </ul>
    </div>
  )
}
