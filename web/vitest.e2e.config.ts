// Vitest for the end-to-end tests (e2e/*.e2e.ts) only: plain Node, one file at a time, browser-sized
// timeouts. scripts/e2e starts the stack they run against and passes its addresses in the environment.
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
})
