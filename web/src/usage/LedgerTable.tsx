// The ledger as a table, newest first: the Usage page's and the admin Users page's.
import type { LedgerEntry } from '../api/types'
import { formatCount, formatDateTime, formatMicros } from '../ui/format'

export function LedgerTable({ rows }: { rows: LedgerEntry[] }) {
  return (
    <table className="w-full text-left text-sm">
      <caption className="sr-only">Usage ledger, newest first</caption>
      <thead className="border-b border-slate-200 text-slate-600">
        <tr>
          <th scope="col" className="p-2">Date</th>
          <th scope="col" className="p-2">Engine</th>
          <th scope="col" className="p-2">Model</th>
          <th scope="col" className="p-2">Personality</th>
          <th scope="col" className="p-2 text-right">Tokens (in / out)</th>
          <th scope="col" className="p-2 text-right">Cost</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.id} className="border-b border-slate-100 last:border-0">
            <td className="whitespace-nowrap p-2">{formatDateTime(row.created_at)}</td>
            <td className="p-2">{row.provider ?? '—'}</td>
            <td className="break-all p-2">{row.model ?? '—'}</td>
            <td className="break-all p-2">{row.personality_name ?? '—'}</td>
            <td className="whitespace-nowrap p-2 text-right">
              {formatCount(row.input_tokens)} / {formatCount(row.output_tokens)}
            </td>
            <td className="whitespace-nowrap p-2 text-right">{formatMicros(row.cost_micros)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

