// Choose who answers: presets (emoji avatars) and the caller's own personas (image avatars).
// A radio group, so arrow keys move between choices.
import type { Personality } from '../api/types'
import { Avatar } from '../ui/Avatar'

export function PersonalityPicker({
  personalities,
  selectedId,
  onSelect,
  disabled,
}: {
  personalities: Personality[]
  selectedId: string | null
  onSelect: (id: string) => void
  disabled: boolean
}) {
  return (
    <fieldset disabled={disabled}>
      <legend className="label">Personality</legend>
      <div className="mt-1 flex flex-wrap gap-2">
        {personalities.map((personality) => (
          <label
            key={personality.id}
            className="flex cursor-pointer items-center gap-2 rounded-full border border-slate-300 bg-white px-3 py-1 text-sm has-[:checked]:border-indigo-600 has-[:checked]:bg-indigo-50 has-[:focus-visible]:outline-3 has-[:focus-visible]:outline-indigo-500"
          >
            <input
              type="radio"
              name="personality"
              value={personality.id}
              checked={selectedId === personality.id}
              onChange={() => {
                onSelect(personality.id)
              }}
              className="sr-only"
            />
            <Avatar
              image={personality.kind === 'persona' ? personality.avatar : null}
              emoji={personality.kind === 'preset' ? personality.avatar : null}
              label={personality.label}
            />
            <span>{personality.label}</span>
            {personality.kind === 'persona' && <span className="text-xs text-slate-500">(yours)</span>}
          </label>
        ))}
      </div>
    </fieldset>
  )
}
