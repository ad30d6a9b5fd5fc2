// The API the running app uses: the build-time base URL and the token of the current session.
import { createApiClient } from './client'
import { API_BASE_URL } from './config'
import { helixApi, type HelixApi } from './helix'
import { loadSession } from '../session/sessionStore'

export function createDefaultApi(baseUrl: string = API_BASE_URL): HelixApi {
  return helixApi(createApiClient({ baseUrl, getToken: () => loadSession()?.token ?? null }))
}
