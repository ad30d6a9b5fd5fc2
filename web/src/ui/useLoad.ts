// Loads data when a component mounts (and again on reload()), ignoring answers that arrive after
// the component has gone or after a newer load has started.
import { useCallback, useEffect, useEffectEvent, useState } from 'react'

export interface Loaded<T> {
  data: T | null
  error: unknown
  loading: boolean
  reload: () => void
}

interface Result<T> {
  generation: number
  data: T | null
  error: unknown
}

export function useLoad<T>(load: () => Promise<T>): Loaded<T> {
  const [generation, setGeneration] = useState(0)
  const [result, setResult] = useState<Result<T> | null>(null)
  const runLoad = useEffectEvent(load)

  useEffect(() => {
    let current = true
    runLoad().then(
      (data) => {
        if (current) setResult({ generation, data, error: null })
      },
      (error: unknown) => {
        if (current) setResult((previous) => ({ generation, data: previous?.data ?? null, error }))
      },
    )
    return () => {
      current = false
    }
  }, [generation])

  const reload = useCallback(() => {
    setGeneration((value) => value + 1)
  }, [])
  return {
    data: result?.data ?? null,
    error: result?.error ?? null,
    loading: result?.generation !== generation,
    reload,
  }
}
