// Whether the signed-in person is an admin (may grant budget), as the sign-in answer said. A
// session stored before the API sent roles has none: it counts as no until the next sign-in.
import { useSignedInSession } from '../session/context'

export function useIsAdmin(): boolean {
  return useSignedInSession().user.role === 'admin'
}
