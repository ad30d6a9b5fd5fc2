// The end-to-end tests' browser: Debian's Chromium driven by playwright-core (its own browser
// download is not reachable here), headless, with a fresh profile that is removed afterwards.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deflateSync } from 'node:zlib'
import { chromium, type BrowserContext, type Page } from 'playwright-core'

export interface Stack {
  /** The built web app (vite preview), which proxies /auth, /v1 and /healthz to the gateway. */
  webUrl: string
  /** The fake OpenAI-compatible provider and S3 (e2e/fake-upstream.mjs). */
  upstreamUrl: string
  artifacts: string
  chromium: string
}

function required(name: string): string {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: run the end-to-end tests with scripts/e2e`)
  return value
}

export function stackFromEnv(): Stack {
  return {
    webUrl: required('HELIX_E2E_WEB_URL'),
    upstreamUrl: required('HELIX_E2E_UPSTREAM_URL'),
    artifacts: process.env.HELIX_E2E_ARTIFACTS ?? join(import.meta.dirname, '..', 'artifacts'),
    chromium: process.env.HELIX_E2E_CHROMIUM ?? '/usr/bin/chromium',
  }
}

export async function launchBrowser(stack: Stack): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'helix-e2e-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: stack.chromium,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 860 },
  })
  context.setDefaultTimeout(10_000)
  return {
    context,
    close: async () => {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

/** Saves a full-page screenshot as <artifacts>/<name>.png. */
export async function screenshot(page: Page, stack: Stack, name: string): Promise<void> {
  mkdirSync(stack.artifacts, { recursive: true })
  await page.screenshot({ path: join(stack.artifacts, `${name}.png`), fullPage: true })
}

/** A real PNG (a 32×32 teal disc on white) for the avatar upload. */
export function avatarPng(): Buffer {
  const size = 32
  const rows: Buffer[] = []
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 3)
    for (let x = 0; x < size; x++) {
      const inside = (x - 15.5) ** 2 + (y - 15.5) ** 2 < 14 ** 2
      row.set(inside ? [13, 148, 136] : [255, 255, 255], 1 + x * 3)
    }
    rows.push(row)
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(size, 0)
  header.writeUInt32BE(size, 4)
  header.set([8, 2, 0, 0, 0], 8) // 8-bit RGB, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff
  for (const byte of bytes) {
    crc ^= byte
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}
