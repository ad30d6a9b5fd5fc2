import { describe, expect, it } from 'vitest'
import { formatCents, parseDollarsToCents } from './format'

describe('amounts in dollars', () => {
  it('become whole cents without floating-point error', () => {
    expect(parseDollarsToCents('5')).toBe(500)
    expect(parseDollarsToCents('5.5')).toBe(550)
    expect(parseDollarsToCents(' $12.34 ')).toBe(1234)
    expect(parseDollarsToCents('0.29')).toBe(29)
    expect(parseDollarsToCents('1,000.01')).toBe(100001)
  })

  it('refuse anything that is not a plain positive amount', () => {
    for (const text of ['', 'five', '-5', '5.123', '1e3', '5.', '.5']) {
      expect(parseDollarsToCents(text), text).toBeNull()
    }
  })

  it('show negative balances with a minus sign', () => {
    expect(formatCents(-1234)).toBe('−$12.34')
  })
})
