// Vite: the React app, Tailwind, the dev proxy to the local gateway, and the Vitest setup.
// The production build is a static bundle (S3 + CloudFront); the API's address is baked in at build
// time from VITE_HELIX_API_BASE_URL (empty = same origin).
import tailwindcss from '@tailwindcss/vite'
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vitest/config'

// scripts/dev points this at the gateway's actual port (HELIX_PORT); 3001 is its default.
const apiTarget = process.env.HELIX_DEV_API_TARGET ?? 'http://localhost:3001'

export default defineConfig({
  plugins: [react(), tailwindcss()],
  server: {
    port: 5173,
    strictPort: true,
    proxy: {
      '/auth': apiTarget,
      '/v1': apiTarget,
      '/healthz': apiTarget,
    },
  },
  build: {
    // Maps for debugging stack traces, not referenced from the bundle (upload them or not).
    sourcemap: 'hidden',
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    restoreMocks: true,
    unstubGlobals: true,
    unstubEnvs: true,
  },
})
