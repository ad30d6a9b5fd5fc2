import { describe, expect, it } from 'vitest'
import { groupLabel } from './usageData'

describe('groupLabel', () => {
  it('names a personality group by its display name, not its id', () => {
    expect(groupLabel({ key: 'cl9x2k0pirate', name: 'Pirate' })).toBe('Pirate')
    expect(groupLabel({ key: 'helix-assistant', name: 'Helix assistant' })).toBe('Helix assistant')
    expect(groupLabel({ key: 'cl9gone', name: 'Deleted persona (cl9gone)' })).toBe('Deleted persona (cl9gone)')
    expect(groupLabel({ key: '', name: 'No personality' })).toBe('No personality')
  })

  it('names the other groupings by their key, and an empty key with a dash', () => {
    expect(groupLabel({ key: 'gpt-4o-mini', name: null })).toBe('gpt-4o-mini')
    expect(groupLabel({ key: '', name: null })).toBe('—')
  })
})
