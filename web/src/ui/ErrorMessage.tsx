// An API error as the person should see it: the API's own message, plus the trace id for support.
import { ApiError } from '../api/client'
import { errorText } from './errorText'

export function ErrorMessage({ error }: { error: unknown }) {
  const traceId = error instanceof ApiError ? error.traceId : null
  return (
    <div role="alert" className="rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-900">
      <p>{errorText(error)}</p>
      {traceId && <p className="mt-1 text-xs text-red-800">Trace id: <code>{traceId}</code></p>}
    </div>
  )
}
