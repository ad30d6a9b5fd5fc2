// The frame around every signed-in page: navigation, the budget, who is signed in, sign out.
import type { ReactNode } from 'react'
import { useIsAdmin } from '../admin/access'
import { AlertBanner } from '../budget/AlertBanner'
import { BudgetBanner } from '../budget/BudgetBanner'
import { hrefFor, type Route } from '../router'
import { useSession, useSignedInSession } from '../session/context'

const NAV: { route: Route; label: string; adminOnly?: boolean }[] = [
  { route: 'chat', label: 'Chat' },
  { route: 'usage', label: 'Usage' },
  { route: 'agents', label: 'Agents' },
  { route: 'personas', label: 'Personas' },
  { route: 'keys', label: 'Keys' },
  { route: 'users', label: 'Users', adminOnly: true },
  { route: 'grants', label: 'Grants', adminOnly: true },
]

export function AppShell({ route, children }: { route: Route; children: ReactNode }) {
  const { signOut } = useSession()
  const { user } = useSignedInSession()
  const admin = useIsAdmin()
  return (
    <div className="min-h-screen">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:m-2 focus:bg-white focus:p-2">
        Skip to content
      </a>
      <header className="border-b border-slate-200 bg-white">
        <div className="mx-auto flex max-w-4xl flex-wrap items-center gap-x-4 gap-y-2 px-3 py-2 sm:px-4">
          <span className="text-lg font-bold">Helix</span>
          <nav aria-label="Main" className="order-last w-full sm:order-none sm:w-auto">
            <ul className="flex flex-wrap gap-1">
              {NAV.filter((item) => admin || !item.adminOnly).map((item) => (
                <li key={item.route}>
                  <a
                    href={hrefFor(item.route)}
                    aria-current={item.route === route ? 'page' : undefined}
                    className="rounded-md px-2 py-1 text-sm font-medium text-slate-700 hover:bg-slate-100 aria-[current=page]:bg-indigo-50 aria-[current=page]:text-indigo-800"
                  >
                    {item.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <div className="ml-auto flex items-center gap-2">
            <BudgetBanner />
            <span className="hidden text-sm text-slate-600 md:inline">{user.email}</span>
            <button
              type="button"
              onClick={() => {
                signOut()
              }}
              className="btn-secondary"
            >
              Sign out
            </button>
          </div>
        </div>
      </header>
      <AlertBanner />
      <main id="main" tabIndex={-1} className="mx-auto max-w-4xl px-3 py-4 sm:px-4">
        {children}
      </main>
    </div>
  )
}
