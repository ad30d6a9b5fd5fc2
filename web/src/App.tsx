// The app: the passcode gate guards every page; behind it, the budget and the routed page.
import { useState, type ReactNode } from 'react'
import { GrantsPage } from './admin/GrantsPage'
import { UsersPage } from './admin/UsersPage'
import { ApiContext } from './api/context'
import { createDefaultApi } from './api/defaultApi'
import { BudgetProvider } from './budget/BudgetProvider'
import { ChatPage } from './chat/ChatPage'
import { PasscodeGate } from './gate/PasscodeGate'
import { AppShell } from './layout/AppShell'
import { AgentsPage } from './pages/AgentsPage'
import { KeysPage } from './pages/KeysPage'
import { PersonasPage } from './pages/PersonasPage'
import { UsagePage } from './pages/UsagePage'
import { useRoute, type Route } from './router'
import { useSession } from './session/context'
import { SessionProvider } from './session/SessionProvider'

export function App() {
  // One client for the app's lifetime; tests stub the global fetch underneath it.
  const [api] = useState(createDefaultApi)
  return (
    <ApiContext value={api}>
      <SessionProvider>
        <Guarded />
      </SessionProvider>
    </ApiContext>
  )
}

function Guarded() {
  const { session } = useSession()
  const route = useRoute()
  if (!session) return <PasscodeGate />
  return (
    // Keyed by user so nothing of one person's session survives into the next.
    <BudgetProvider key={session.user.id}>
      <AppShell route={route}>{page(route)}</AppShell>
    </BudgetProvider>
  )
}

function page(route: Route): ReactNode {
  switch (route) {
    case 'chat':
      return <ChatPage />
    case 'usage':
      return <UsagePage />
    case 'agents':
      return <AgentsPage />
    case 'personas':
      return <PersonasPage />
    case 'keys':
      return <KeysPage />
    case 'users':
      return <UsersPage />
    case 'grants':
      return <GrantsPage />
  }
}
