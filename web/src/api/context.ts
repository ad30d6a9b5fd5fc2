// The app's one API instance, shared through React context (tests pass their own).
import { createContext, useContext } from 'react'
import type { HelixApi } from './helix'

export const ApiContext = createContext<HelixApi | null>(null)

export function useApi(): HelixApi {
  const api = useContext(ApiContext)
  if (!api) throw new Error('useApi must be used inside <AppProviders>')
  return api
}
