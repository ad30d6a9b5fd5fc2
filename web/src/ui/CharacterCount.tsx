// "12 / 80 characters" under a field with a limit; red once the limit is reached.
import { formatCount } from './format'

export function CharacterCount({ id, used, max }: { id: string; used: number; max: number }) {
  return (
    <p id={id} className={`mt-1 text-xs ${used >= max ? 'text-red-800' : 'text-slate-600'}`}>
      {formatCount(used)} / {formatCount(max)} characters
    </p>
  )
}
