// Downloads the conversation as Markdown or JSON (the API's export, with the session's token).
import { useState } from 'react'
import { useApi } from '../api/context'
import type { ExportFormat } from '../api/types'
import { ErrorMessage } from '../ui/ErrorMessage'

const EXTENSION: Record<ExportFormat, string> = { markdown: 'md', json: 'json' }

export function ExportButtons({ conversationId }: { conversationId: string }) {
  const api = useApi()
  const [error, setError] = useState<unknown>(null)

  async function download(format: ExportFormat) {
    setError(null)
    try {
      const blob = await api.exportConversation(conversationId, format)
      const url = URL.createObjectURL(blob)
      const link = document.createElement('a')
      link.href = url
      link.download = `conversation-${conversationId}.${EXTENSION[format]}`
      document.body.append(link)
      link.click()
      link.remove()
      setTimeout(() => {
        URL.revokeObjectURL(url)
      }, 1000)
    } catch (failure) {
      setError(failure)
    }
  }

  return (
    <span className="inline-flex flex-wrap items-center gap-2">
      <button type="button" onClick={() => void download('markdown')} className="btn-secondary text-xs">
        Export Markdown
      </button>
      <button type="button" onClick={() => void download('json')} className="btn-secondary text-xs">
        Export JSON
      </button>
      {error !== null && <ErrorMessage error={error} />}
    </span>
  )
}
