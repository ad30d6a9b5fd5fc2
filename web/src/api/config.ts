// Where the API lives, fixed at build time. Empty (the default) means the page's own origin: the
// Vite dev proxy locally, or one CloudFront distribution serving both the bundle and the API.
export const API_BASE_URL: string = import.meta.env.VITE_HELIX_API_BASE_URL ?? ''
