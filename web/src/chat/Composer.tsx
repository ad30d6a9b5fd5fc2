// Where the next message is written. Enter sends, Shift+Enter starts a new line. While an answer
// streams, Stop (or Escape) ends it, and the next message can already be written.
import { useId, type SubmitEvent, type KeyboardEvent } from 'react'

export function Composer({
  value,
  onChange,
  onSend,
  onStop,
  answering,
  disabled,
  disabledReason,
}: {
  value: string
  onChange: (value: string) => void
  onSend: () => void
  onStop: () => void
  /** A turn is in flight: Stop replaces Send. */
  answering: boolean
  disabled: boolean
  disabledReason: string | null
}) {
  const id = useId()
  const hintId = useId()
  const canSend = !disabled && !answering && value.trim().length > 0

  function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault()
    if (canSend) onSend()
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === 'Escape' && answering) {
      event.preventDefault()
      onStop()
    } else if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault()
      if (canSend) onSend()
    }
  }

  let hint = 'Enter to send, Shift+Enter for a new line.'
  if (answering) hint = 'Answering… Stop or Escape ends the answer here.'
  else if (disabledReason) hint = disabledReason

  return (
    <form onSubmit={submit} className="flex flex-col gap-2 sm:flex-row sm:items-end">
      <div className="flex-1">
        <label htmlFor={id} className="label">
          Message
        </label>
        <textarea
          id={id}
          rows={3}
          value={value}
          disabled={disabled}
          onChange={(event) => {
            onChange(event.target.value)
          }}
          onKeyDown={onKeyDown}
          aria-describedby={hintId}
          className="field mt-1 resize-y"
        />
        <p id={hintId} className="mt-1 text-xs text-slate-600">
          {hint}
        </p>
      </div>
      {answering ? (
        <button type="button" onClick={onStop} className="btn-secondary px-4 py-2 font-semibold sm:mb-6">
          Stop
        </button>
      ) : (
        <button type="submit" disabled={!canSend} className="btn-primary sm:mb-6">
          Send
        </button>
      )}
    </form>
  )
}
