// After a turn, the chat keeps what it showed (the text as it streamed, the cost it read) and takes
// from the server what only the server knows: each entry's stored id and versions, and the exact
// charge of an answer that was stopped. When the two disagree about the shape, the server is right.
import type { ChatEntry } from '../chat/useConversation'

export function mergeStored(shown: ChatEntry[], server: ChatEntry[]): ChatEntry[] {
  const sameShape =
    shown.length === server.length && shown.every((entry, index) => entry.kind === server[index]?.kind)
  if (!sameShape) return server
  return shown.map((entry, index) => {
    const stored = server[index]
    if (entry.kind === 'user' && stored?.kind === 'user') return { ...entry, stored: stored.stored }
    if (entry.kind === 'assistant' && stored?.kind === 'assistant') {
      const { ending } = entry.answer
      // A stopped answer's cost, once the server has settled it, is the stored one.
      const unsettled = (ending.kind === 'stopped' || ending.kind === 'cut') && ending.charge.state !== 'settled'
      const answer = unsettled ? { ...entry.answer, ending: stored.answer.ending } : entry.answer
      return { ...entry, answer, stored: stored.stored }
    }
    return entry
  })
}
