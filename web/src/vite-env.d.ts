/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The API's origin, e.g. https://api.helix.example.com; unset = same origin. */
  readonly VITE_HELIX_API_BASE_URL?: string
}

interface ImportMeta {
  readonly env: ImportMetaEnv
}
