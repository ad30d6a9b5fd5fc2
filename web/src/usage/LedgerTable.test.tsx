import { render, screen, within } from '@testing-library/react'
import { describe, expect, it } from 'vitest'
import { ledgerEntry } from '../test/fakeApi'
import { LedgerTable } from './LedgerTable'

describe('the ledger table', () => {
  it("names each row's personality, a deleted persona with its id, and shows a dash for none", () => {
    render(
      <LedgerTable
        rows={[
          ledgerEntry({ id: 'l-1', personality_id: 'helix-assistant', personality_name: 'Helix assistant' }),
          ledgerEntry({ id: 'l-2', personality_id: 'cl9pirate', personality_name: 'Pirate' }),
          ledgerEntry({ id: 'l-3', personality_id: 'cl9gone', personality_name: 'Deleted persona (cl9gone)' }),
          ledgerEntry({ id: 'l-4', personality_id: null, personality_name: null }),
        ]}
      />,
    )
    const table = screen.getByRole('table', { name: 'Usage ledger, newest first' })
    expect(within(table).getByRole('columnheader', { name: 'Personality' })).toBeInTheDocument()
    const cells = within(table)
      .getAllByRole('row')
      .slice(1)
      .map((row) => within(row).getAllByRole('cell')[3]?.textContent)
    expect(cells).toEqual(['Helix assistant', 'Pirate', 'Deleted persona (cl9gone)', '—'])
    expect(within(table).queryByText('cl9pirate')).not.toBeInTheDocument()
  })
})
