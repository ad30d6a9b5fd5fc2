// The answer asked for tools: Helix does not run them, so the person runs each one and sends the
// results back (one `tool` message per call, with its tool_call_id) as the next turn.
import { useId, type SubmitEvent } from 'react'
import type { ToolCall } from '../api/types'

export function ToolResultForm({
  calls,
  values,
  onChange,
  onSend,
  disabled,
}: {
  calls: ToolCall[]
  /** The result typed so far for each call, by call id. */
  values: Readonly<Record<string, string>>
  onChange: (callId: string, value: string) => void
  onSend: () => void
  disabled: boolean
}) {
  const id = useId()
  const many = calls.length > 1

  function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault()
    if (!disabled) onSend()
  }

  return (
    <form
      onSubmit={submit}
      aria-labelledby={`${id}-title`}
      className="mt-3 space-y-3 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm"
    >
      <h3 id={`${id}-title`} className="font-semibold text-amber-900">
        {many ? 'The model asked to use tools' : 'The model asked to use a tool'}
      </h3>
      <p id={`${id}-hint`} className="text-amber-900">
        Helix does not run tools. Run {many ? 'each call' : 'it'} yourself and send the result back, or
        write a new message below to skip {many ? 'them' : 'it'}.
      </p>
      {calls.map((call, index) => {
        const fieldId = `${id}-${index}`
        const label = `Result of ${call.name}${many ? ` (call ${index + 1})` : ''}`
        return (
          <div key={call.id}>
            <label htmlFor={fieldId} className="label">
              {label}
            </label>
            <p id={`${fieldId}-args`} className="text-xs break-all text-slate-600">
              Arguments: <code>{JSON.stringify(call.arguments)}</code>
            </p>
            <textarea
              id={fieldId}
              rows={2}
              value={values[call.id] ?? ''}
              disabled={disabled}
              onChange={(event) => {
                onChange(call.id, event.target.value)
              }}
              aria-describedby={`${fieldId}-args ${id}-hint`}
              className="field mt-1 resize-y font-mono text-sm"
            />
          </div>
        )
      })}
      <button type="submit" disabled={disabled} className="btn-primary">
        {many ? 'Send tool results' : 'Send tool result'}
      </button>
    </form>
  )
}
