// Copies a value (a trace id, for support) to the clipboard and says whether it worked.
import { useState } from 'react'

export function CopyButton({ value, label }: { value: string; label: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle')

  async function copy() {
    try {
      await navigator.clipboard.writeText(value)
      setState('copied')
    } catch {
      setState('failed')
    }
  }

  return (
    <>
      <button type="button" onClick={() => void copy()} className="btn-secondary px-2 py-0.5 text-xs">
        {label}
      </button>
      <span role="status" className="text-xs text-slate-600">
        {state === 'copied' && 'Copied'}
        {state === 'failed' && 'Could not copy: select the id instead'}
      </span>
    </>
  )
}
