import '@testing-library/jest-dom/vitest'
import { cleanup } from '@testing-library/react'
import { afterEach } from 'vitest'

// jsdom has no ResizeObserver; recharts' ResponsiveContainer needs one (it then keeps its initial size).
if (!('ResizeObserver' in globalThis)) {
  class ResizeObserverStub {
    observe() {}
    unobserve() {}
    disconnect() {}
  }
  Object.defineProperty(globalThis, 'ResizeObserver', { value: ResizeObserverStub, configurable: true })
}

afterEach(() => {
  cleanup()
  sessionStorage.clear()
  window.location.hash = ''
})

// A stored conversation's URL (/c/{id}) is the page's path: each test starts on a new chat.
afterEach(() => {
  window.history.replaceState(null, '', '/')
})
