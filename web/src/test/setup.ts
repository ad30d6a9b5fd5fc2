import '@testing-library/jest-dom/vitest'
import { cleanup } from '@testing-library/react'
import { afterEach } from 'vitest'

afterEach(() => {
  cleanup()
  sessionStorage.clear()
  window.location.hash = ''
})

// A stored conversation's URL (/c/{id}) is the page's path: each test starts on a new chat.
afterEach(() => {
  window.history.replaceState(null, '', '/')
})
