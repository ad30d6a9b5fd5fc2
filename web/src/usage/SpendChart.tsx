// Daily spend for the period as stacked bars (recharts), one colour per model or engine. Sized to its
// container so it stays readable on a phone; the totals tables beside it carry the same figures as text.
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts'
import { formatMicros } from '../ui/format'
import type { DayRow } from './usageData'

const COLOURS = ['#4338ca', '#0891b2', '#ca8a04', '#db2777', '#16a34a', '#7c3aed', '#ea580c', '#475569']

function shortDay(day: string): string {
  const [, month = '', date = ''] = day.split('-')
  return `${Number(date)}/${Number(month)}`
}

export function SpendChart({ rows, stacks }: { rows: DayRow[]; stacks: string[] }) {
  return (
    <figure className="rounded-lg bg-white p-2 shadow-sm sm:p-3" aria-label="Spend per day">
      <div className="h-64 w-full">
        <ResponsiveContainer width="100%" height="100%" initialDimension={{ width: 320, height: 256 }}>
          <BarChart data={rows} margin={{ top: 8, right: 4, bottom: 0, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" vertical={false} />
            <XAxis dataKey="day" tickFormatter={shortDay} tick={{ fontSize: 11 }} interval="preserveStartEnd" minTickGap={8} />
            <YAxis
              tickFormatter={(value: number) => formatMicros(value)}
              tick={{ fontSize: 11 }}
              width={64}
            />
            <Tooltip formatter={(value) => formatMicros(Number(value))} />
            <Legend wrapperStyle={{ fontSize: 12 }} />
            {stacks.map((stack, index) => (
              <Bar key={stack} dataKey={stack} stackId="spend" fill={COLOURS[index % COLOURS.length]} isAnimationActive={false} />
            ))}
          </BarChart>
        </ResponsiveContainer>
      </div>
      <figcaption className="mt-1 text-xs text-slate-600">Spend per day this period, stacked by the chosen grouping.</figcaption>
    </figure>
  )
}
