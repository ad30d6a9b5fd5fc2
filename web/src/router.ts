// A tiny hash router: the bundle is static files on S3 + CloudFront, so #/page needs no rewrite rules.
import { useSyncExternalStore } from 'react'

export const ROUTES = ['chat', 'usage', 'agents', 'personas', 'keys', 'users', 'grants'] as const
export type Route = (typeof ROUTES)[number]

function isRoute(value: string): value is Route {
  return (ROUTES as readonly string[]).includes(value)
}

export function routeFromHash(hash: string): Route {
  const name = hash.replace(/^#\/?/, '')
  return isRoute(name) ? name : 'chat'
}

export function hrefFor(route: Route): string {
  return `#/${route}`
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('hashchange', onChange)
  return () => {
    window.removeEventListener('hashchange', onChange)
  }
}

export function useRoute(): Route {
  return useSyncExternalStore(subscribe, () => routeFromHash(window.location.hash))
}
