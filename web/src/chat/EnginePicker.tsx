// Choose the engine and model: only the caller's active agents can take a turn.
import { useId } from 'react'
import type { Agent } from '../api/types'

export function EnginePicker({
  agents,
  selectedId,
  onSelect,
  disabled,
}: {
  agents: Agent[]
  selectedId: string | null
  onSelect: (id: string) => void
  disabled: boolean
}) {
  const id = useId()
  return (
    <div>
      <label htmlFor={id} className="label">
        Engine and model
      </label>
      <select
        id={id}
        value={selectedId ?? ''}
        disabled={disabled}
        onChange={(event) => {
          onSelect(event.target.value)
        }}
        className="field mt-1"
      >
        {agents.map((agent) => (
          <option key={agent.id} value={agent.id}>
            {agent.provider} · {agent.model}
          </option>
        ))}
      </select>
    </div>
  )
}
