// The web app end to end, in a real headless Chromium, against the real local stack that
// scripts/e2e starts: the gateway on a fresh seeded database, a fake OpenAI-compatible provider
// (and S3) behind it, and the production build of the app served by vite preview. Answers stream.
// The steps share one database and run in order: each builds on the balance the last one left.
import { readFile } from 'node:fs/promises'
import type { BrowserContext, Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { avatarPng, launchBrowser, screenshot, stackFromEnv } from './browser'

const stack = stackFromEnv()
const MASTER = 'helix-master-dev'
const FNBO = 'helix-fnbo-dev'
/** The seed gives every user this agent; HELIX_LOCAL_BASE_URL points it at the fake provider. */
const LOCAL_ENGINE = 'local · smollm2-135m-instruct'
/**
 * Prices scripts/e2e sets for local models: $100 per million input tokens and $1,000 per million
 * output tokens, so the fake provider's 100 + 50 tokens cost 100×100 + 50×1000 = 60,000 µ$ = $0.06.
 */
const TURN_COST = '$0.06'
const TURN_COST_CENTS = 6

let context: BrowserContext
let closeBrowser: () => Promise<void>
/** The admin's tab, signed in for the whole run (a tab's sessionStorage is its own session). */
let master: Page

beforeAll(async () => {
  ;({ context, close: closeBrowser } = await launchBrowser(stack))
  master = await context.newPage()
})

afterAll(async () => {
  await closeBrowser()
})

async function shown(locator: Locator): Promise<Locator> {
  await locator.waitFor({ state: 'visible' })
  return locator
}

async function text(locator: Locator): Promise<string> {
  return (await (await shown(locator)).textContent()) ?? ''
}

/** Signs in with the keyboard only: the gate focuses the passcode field, Enter submits. */
async function signIn(page: Page, passcode: string): Promise<void> {
  await page.goto(stack.webUrl)
  await shown(page.getByLabel('Passcode'))
  await page.keyboard.type(passcode)
  await page.keyboard.press('Enter')
  await shown(page.getByRole('button', { name: 'Sign out' }))
}

async function banner(page: Page): Promise<string> {
  return text(page.getByText(/^Budget left: /))
}

async function go(page: Page, link: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link }).click()
  await shown(page.getByRole('link', { name: link, exact: true }).and(page.locator('[aria-current="page"]')))
}

async function chooseLocalEngine(page: Page): Promise<void> {
  await page.getByLabel('Engine and model').selectOption({ label: LOCAL_ENGINE })
}

/** Types a message into the composer and sends it with Enter. */
async function say(page: Page, message: string): Promise<void> {
  const composer = page.getByLabel('Message', { exact: true })
  await composer.fill(message)
  await composer.press('Enter')
}

/** Answers carry aria-busy: "true" while they stream in, "false" once they have ended. */
function answers(page: Page, state: 'streaming' | 'ended'): Locator {
  const busy = state === 'streaming' ? 'true' : 'false'
  return page.getByRole('list', { name: 'Conversation' }).locator(`:scope > li[aria-busy="${busy}"]`)
}

/** Does `act`, then waits until the answer it starts has ended; returns that answer. */
async function answerTo(page: Page, act: () => Promise<void>): Promise<Locator> {
  const ended = answers(page, 'ended')
  const before = await ended.count()
  await act()
  await expect.poll(() => ended.count(), { timeout: 15_000 }).toBe(before + 1)
  return ended.last()
}

/** Starts a new chat and waits until the page has left the stored one (its URL and its answers). */
async function newConversation(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'New conversation' }).click()
  await expect.poll(() => new URL(page.url()).pathname).toBe('/')
  await expect.poll(() => answers(page, 'ended').count()).toBe(0)
}

/** Sends a message and waits for its whole answer. */
async function ask(page: Page, message: string): Promise<Locator> {
  return answerTo(page, () => say(page, message))
}

/** "Budget left: $9.76" → 976. */
async function bannerCents(page: Page): Promise<number> {
  const match = /\$(\d+)\.(\d\d)$/.exec(await banner(page))
  if (!match) throw new Error(`the banner shows no balance: ${await banner(page)}`)
  return Number(match[1]) * 100 + Number(match[2])
}

/** 976 → "$9.76". */
function dollars(cents: number): string {
  return `$${(cents / 100).toFixed(2)}`
}

/**
 * Records, in the page, each new length of the text of the answer that is streaming in, so that a
 * test can tell the answer grew on screen piece by piece. Call the returned function for the lengths.
 */
async function watchStreamingText(page: Page): Promise<() => Promise<number[]>> {
  await page.evaluate(() => {
    const lengths: number[] = []
    const observer = new MutationObserver(() => {
      const length = document.querySelector('li[aria-busy="true"] .markdown')?.textContent.length ?? 0
      if (length > 0 && lengths.at(-1) !== length) lengths.push(length)
    })
    observer.observe(document.body, { subtree: true, childList: true, characterData: true })
    Object.assign(window, {
      streamedLengths: () => {
        observer.disconnect()
        return lengths
      },
    })
  })
  return () => page.evaluate(() => (window as unknown as { streamedLengths: () => number[] }).streamedLengths())
}

interface SentRequest {
  messages: { role: string; content: string | null; tool_call_id?: string; tool_calls?: { id: string }[] }[]
}

async function providerRequests(): Promise<SentRequest[]> {
  const response = await fetch(`${stack.upstreamUrl}/__e2e/chat-requests`)
  return (await response.json()) as SentRequest[]
}

describe('Helix in a browser', () => {
  it('shows an error for a wrong passcode and stays on the gate', async () => {
    await master.goto(stack.webUrl)
    await shown(master.getByLabel('Passcode'))
    await screenshot(master, stack, 'gate')

    await master.keyboard.type('not-the-passcode')
    await master.keyboard.press('Enter')

    expect(await text(master.getByRole('alert'))).toContain('That passcode is not right')
    expect(await master.getByLabel('Passcode').getAttribute('aria-invalid')).toBe('true')
    await screenshot(master, stack, 'gate-wrong-passcode')
  })

  it('signs in and chats: the answer, its cost, and a lower budget in the banner', async () => {
    await signIn(master, MASTER)
    expect(await banner(master)).toBe('Budget left: $10.00')
    await chooseLocalEngine(master)

    const answer = await ask(master, 'Hello from the browser')

    expect(await text(answer.locator('strong'))).toBe('Hello from the browser')
    expect(await text(answer)).toContain(`Cost: ${TURN_COST}`)
    expect(await text(answer)).toContain('Tokens: 100 in, 50 out')
    await shown(master.getByText('Budget left: $9.94'))
    await screenshot(master, stack, 'chat')
  })

  it('keeps the conversation on the server: after a reload it is back, at its own URL and in the sidebar', async () => {
    await expect.poll(() => new URL(master.url()).pathname).toMatch(/^\/c\/[a-z0-9]{8,64}$/)
    const url = master.url()

    await master.reload()

    await shown(master.getByRole('button', { name: 'Sign out' }))
    expect(master.url()).toBe(url)
    const restored = answers(master, 'ended')
    await expect.poll(() => restored.count()).toBe(1)
    expect(await text(restored.first().locator('strong'))).toBe('Hello from the browser')
    expect(await text(restored.first())).toContain(`Cost: ${TURN_COST}`)
    await shown(master.getByText(`Conversation cost: ${TURN_COST}`))
    const sidebar = master.getByRole('navigation', { name: 'Conversations' })
    const link = await shown(sidebar.getByRole('link', { name: /Hello from the browser/ }))
    expect(await link.getAttribute('aria-current')).toBe('page')
    await screenshot(master, stack, 'chat-reloaded')

    // A new chat, then Back: the stored conversation again.
    await newConversation(master)
    await master.goBack()
    await expect.poll(() => master.url()).toBe(url)
    await expect.poll(() => answers(master, 'ended').count()).toBe(1)
  })

  it('creates a persona, uploads its avatar through the presigned URL, and chats with it', async () => {
    await go(master, 'Personas')
    await master.getByLabel('Name').fill('Captain Hook')
    await master.getByLabel('Prompt').fill('Arr! You are Captain Hook, a pirate. Answer like one.')
    await master.getByRole('button', { name: 'Create persona' }).click()
    const list = master.getByRole('list', { name: 'Your personas' })
    const item = list.getByRole('listitem').filter({ hasText: 'Captain Hook' })
    await shown(item)

    await item.getByRole('button', { name: 'Add avatar for Captain Hook' }).click()
    await item.getByLabel('New avatar for Captain Hook').setInputFiles({
      name: 'hook.png',
      mimeType: 'image/png',
      buffer: avatarPng(),
    })
    const preview = await shown(item.getByRole('img', { name: 'Preview of the new avatar for Captain Hook' }))
    expect(await preview.getAttribute('src')).toMatch(/^blob:/)
    await item.getByRole('button', { name: 'Upload avatar' }).click()
    await shown(item.getByText('Avatar uploaded.'))

    // The list now shows the stored avatar through the API's presigned GET URL, loaded from "S3".
    const stored = item.locator(`img[src^="${stack.upstreamUrl}/"]`)
    await shown(stored)
    await expect.poll(() => stored.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(32)
    await screenshot(master, stack, 'personas')

    await go(master, 'Chat')
    const choice = master.getByRole('radio', { name: /Captain Hook/ })
    await shown(master.locator('label', { has: choice }).locator(`img[src^="${stack.upstreamUrl}/"]`))
    await master.locator('label', { has: choice }).click()
    await chooseLocalEngine(master)
    await ask(master, 'Who are you?')

    await shown(master.getByText(/My instructions begin: “Arr! You are Captain Hook/))
    const sent = (await providerRequests()).at(-1)
    expect(sent?.messages[0]).toMatchObject({ role: 'system', content: expect.stringContaining('Arr! You are Captain Hook') as string })
    await screenshot(master, stack, 'chat-persona')
  })

  it("shows the model's tool call and sends the typed result back as a tool message", async () => {
    await master.locator('label', { has: master.getByRole('radio', { name: /Helix assistant/ }) }).click()
    await newConversation(master)
    await ask(master, 'Please use the calculator for 6*7')

    const form = await shown(master.getByRole('form', { name: 'The model asked to use a tool' }))
    expect(await text(master.getByRole('list', { name: 'Tool calls' }))).toContain('{"expression":"6*7"}')
    await form.getByLabel('Result of calculator').fill('42')
    await screenshot(master, stack, 'chat-tool-call')
    await answerTo(master, () => form.getByRole('button', { name: 'Send tool result' }).click())

    await shown(master.getByText('Tool said: call_e2e_1=42'))
    const sent = (await providerRequests()).at(-1)
    expect(sent?.messages.slice(-2)).toMatchObject([
      { role: 'assistant', tool_calls: [{ id: 'call_e2e_1' }] },
      { role: 'tool', tool_call_id: 'call_e2e_1', content: '42' },
    ])
  })

  it('adds an agent, then deletes it after confirming', async () => {
    await go(master, 'Agents')
    await master.getByLabel('Provider').selectOption('local')
    await master.getByLabel('Model').fill('e2e-scratch-model')
    await master.getByRole('button', { name: 'Add agent' }).click()
    const agents = master.getByRole('list', { name: 'Your agents' })
    await shown(agents.getByText('local · e2e-scratch-model', { exact: true }))
    await screenshot(master, stack, 'agents')

    await agents.getByRole('button', { name: 'Delete local e2e-scratch-model' }).click()
    const dialog = await shown(master.getByRole('alertdialog', { name: 'Delete local e2e-scratch-model?' }))
    await dialog.getByRole('button', { name: 'Yes, delete' }).click()

    await agents.getByText('local · e2e-scratch-model', { exact: true }).waitFor({ state: 'detached' })
    await shown(agents.getByText(LOCAL_ENGINE, { exact: true }))
  })

  it('lists the charged turns on the usage page, charts them, totals them and exports them as CSV', async () => {
    await go(master, 'Usage')
    const table = await shown(master.getByRole('table', { name: 'Usage ledger, newest first' }))
    const rows = table.locator('tbody tr')
    expect(await rows.count()).toBe(4) // hello, the persona, the tool call, the tool result
    expect(await text(rows.first())).toContain('smollm2-135m-instruct')
    expect(await text(rows.first())).toContain(TURN_COST)
    // Each row names its personality, a persona by its own name: never a raw id.
    expect(await text(rows.first())).toContain('Helix assistant')
    expect(await text(rows.nth(2))).toContain('Captain Hook')
    // The summary's totals equal the ledger's four turns.
    const byModel = await shown(master.getByRole('table', { name: 'By model' }))
    await shown(byModel.getByText('smollm2-135m-instruct'))
    expect(await text(byModel.locator('tr', { hasText: 'Total' }))).toContain(dollars(4 * TURN_COST_CENTS))
    const byPersonality = await shown(master.getByRole('table', { name: 'By personality' }))
    await shown(byPersonality.getByText('Captain Hook'))
    await shown(byPersonality.getByText('Helix assistant'))
    await shown(master.getByRole('figure', { name: 'Spend per day' }).locator('.recharts-bar-rectangle').first())
    const [download] = await Promise.all([
      master.waitForEvent('download'),
      master.getByRole('button', { name: 'Export CSV' }).click(),
    ])
    const csv = await readFile(await download.path(), 'utf8')
    const lines = csv.trim().split('\n')
    expect(lines[0]).toBe(
      'id,created_at,kind,provider,model,agent_id,input_tokens,output_tokens,cost_micros,cost_usd,trace_id,personality_id,personality_name',
    )
    expect(lines).toHaveLength(1 + 4)
    expect(lines[1]).toContain(',60000,0.060000,')
    expect(lines[1]).toMatch(/,helix-assistant,Helix assistant$/)
    await screenshot(master, stack, 'usage')
  })

  it("locks the chat when a user's budget is spent: the banner, the API's 402, the lockout panel", async () => {
    const fnbo = await context.newPage()
    try {
      await signIn(fnbo, FNBO)
      const nav = fnbo.getByRole('navigation', { name: 'Main' })
      await shown(nav.getByRole('link', { name: 'Personas' }))
      expect(await banner(fnbo)).toBe('Budget left: $10.00')
      await chooseLocalEngine(fnbo)

      // A turn asks for at most 1,024 output tokens (the default max_tokens), and the fake model
      // never answers more than it was allowed: nine turns of 100 × 100 µ$ in + 1,000 × 1,000 µ$
      // out ($1.01 each) leave $0.91; the tenth can pay for fewer tokens, so its max_tokens is
      // lowered to what the balance covers and the fake spends them all. What is left is less
      // than the next turn's input could cost.
      for (let spent = 1; spent <= 9; spent += 1) {
        await ask(fnbo, 'Please spend 1000 output tokens')
        await shown(fnbo.getByText(`Budget left: ${dollars(1000 - 101 * spent)}`))
      }
      await ask(fnbo, 'Please spend 1000 output tokens')
      await shown(fnbo.getByText('The answer was limited to', { exact: false }).last())
      const left = await bannerCents(fnbo)
      expect(left).toBeLessThan(91)

      // The next turn cannot even pay for its input: the API answers 402 and the app locks.
      await say(fnbo, 'One more, please')
      const panel = await shown(fnbo.getByRole('alert').filter({ hasText: 'Your budget is used up' }))
      expect(await text(panel)).toContain(`. Balance: ${dollars(left)}. This turn needed $`)
      expect(await fnbo.getByLabel('Message', { exact: true }).isDisabled()).toBe(true)
      expect(await fnbo.getByRole('button', { name: 'Send' }).isDisabled()).toBe(true)
      expect(await fnbo.getByLabel('Engine and model').isDisabled()).toBe(true)
      expect(await nav.getByRole('link', { name: 'Grants' }).count()).toBe(0)
      await screenshot(fnbo, stack, 'lockout')

      // An admin grants more budget; the locked user checks again and can chat.
      await go(master, 'Grants')
      await master.getByLabel('Recipient email').fill('fnbo@helix.local')
      await master.getByLabel('Amount (US dollars)').fill('5')
      await master.getByLabel('Reason').fill('end-to-end test top-up')
      await master.getByRole('button', { name: 'Grant budget' }).click()
      await shown(master.getByText(`Granted $5.00 to fnbo@helix.local. Their balance is now ${dollars(left + 500)}.`))
      await screenshot(master, stack, 'grants')

      await fnbo.getByRole('button', { name: 'Check my budget again' }).click()
      await shown(fnbo.getByText(`Budget left: ${dollars(left + 500)}`))
      expect(await fnbo.getByRole('alert').filter({ hasText: 'Your budget is used up' }).count()).toBe(0)

      // The refused message is still there to send again (same Idempotency-Key), and now it goes.
      await answerTo(fnbo, () => fnbo.getByRole('button', { name: 'Try again' }).click())
      await shown(fnbo.getByText('One more, please', { exact: true }).last())
      await shown(fnbo.locator('strong', { hasText: 'One more, please' }))
      // That turn costs $0.06 (100 × 100 µ$ in + 50 × 1,000 µ$ out).
      await shown(fnbo.getByText(`Budget left: ${dollars(left + 500 - 6)}`))
      expect(await fnbo.getByLabel('Message', { exact: true }).isEnabled()).toBe(true)
    } finally {
      await fnbo.close()
    }
  })

  it("sets a user's allowance on the admin Users page, and their banner shows the alert once they pass 80 %", async () => {
    await go(master, 'Users')
    const users = await shown(master.getByRole('table', { name: 'Users and their budgets' }))
    await users.getByRole('button', { name: 'Manage fnbo@helix.local' }).click()
    const policy = master.getByRole('form', { name: 'Budget policy' })
    // fnbo has spent about $10 this month (the lockout step): 80 % of a $12 allowance is $9.60.
    await policy.getByLabel('Allowance ($)').fill('12')
    await policy.getByLabel('Spending cap ($)').fill('50')
    await policy.getByRole('button', { name: 'Save policy' }).click()
    await shown(policy.getByText('Policy saved.'))
    await shown(users.locator('tr', { hasText: 'fnbo@helix.local' }).getByText('$12.00'))
    await screenshot(master, stack, 'users')

    const fnbo = await context.newPage()
    try {
      await signIn(fnbo, FNBO)
      await chooseLocalEngine(fnbo)
      await ask(fnbo, 'Hello again')
      await fnbo.reload()
      await shown(fnbo.getByText(/^You have spent \$\d+\.\d+ of this period's \$12\.00 allowance\.$/))
      await screenshot(fnbo, stack, 'alert-banner')
    } finally {
      await fnbo.close()
    }
  })

  it('streams an answer onto the screen piece by piece, then shows its cost and charges it', async () => {
    await go(master, 'Chat')
    await chooseLocalEngine(master)
    const before = await bannerCents(master)
    const streamedLengths = await watchStreamingText(master)

    const answer = await ask(master, 'Tell me something, a piece at a time')

    const lengths = await streamedLengths()
    const final = (await text(answer.locator('.markdown'))).length
    expect(new Set(lengths).size, `lengths seen while streaming: ${lengths.join(', ')}`).toBeGreaterThanOrEqual(2)
    expect(Math.min(...lengths)).toBeLessThan(final)
    expect(await text(answer.locator('strong'))).toBe('Tell me something, a piece at a time')
    expect(await text(answer)).toContain('Tokens: 100 in, 50 out')
    expect(await text(answer)).toContain(`Cost: ${TURN_COST}`)
    await shown(master.getByText(`Budget left: ${dollars(before - TURN_COST_CENTS)}`))
  })

  it('stops an answer part-way: the text so far stays, marked stopped, and the budget shows the charge', async () => {
    const before = await bannerCents(master)

    await say(master, 'Please count slowly to sixty')
    const streaming = answers(master, 'streaming')
    await shown(streaming.getByText(/Counting slowly: 1, 2, 3, 4, 5,/))
    await shown(master.getByRole('button', { name: 'Stop' }))
    await screenshot(master, stack, 'chat-streaming')
    await master.getByRole('button', { name: 'Stop' }).click()

    const stopped = answers(master, 'ended').last()
    await shown(stopped.getByText('Stopped', { exact: true }))
    await shown(master.getByRole('button', { name: 'Send' }))
    const kept = await text(stopped.locator('.markdown'))
    expect(kept).toMatch(/^Counting slowly: 1, 2, 3, 4, 5,/)
    expect(kept).not.toContain('The end.')
    // Nothing more arrives after the stop.
    await master.waitForTimeout(500)
    expect(await text(stopped.locator('.markdown'))).toBe(kept)

    await expect.poll(() => bannerCents(master), { timeout: 10_000 }).toBeLessThan(before)
    // The cost line settles: the ledger's cost, or plainly not known; never left "updating".
    await shown(stopped.getByText(/^(Cost: \$\d|cost not known yet)/))
    await screenshot(master, stack, 'chat-stopped')
  })

  it('creates an API key shown once, which then works as a bearer, and revokes it', async () => {
    await go(master, 'Keys')
    await master.getByLabel('Name').fill('e2e script')
    await master.getByLabel('Spend limit in dollars (optional)').fill('2.50')
    await master.getByRole('button', { name: 'Create key' }).click()
    const secret = await text(master.getByLabel('New key', { exact: true }))
    expect(secret).toMatch(/^hx_[A-Za-z0-9_-]{43}$/)
    const item = master.getByRole('list', { name: 'Your keys' }).getByRole('listitem').filter({ hasText: 'e2e script' })
    expect(await text(item)).toContain('$0.00 of $2.50 spent')
    await screenshot(master, stack, 'keys')
    await master.getByRole('button', { name: 'I have copied it' }).click()
    expect(await master.getByText(secret).count()).toBe(0)

    // The key is a bearer on the API (as any OpenAI client would send it); listing models costs nothing.
    const models = async () =>
      fetch(`${stack.webUrl}/v1/models`, { headers: { authorization: `Bearer ${secret}` } }).then((r) => r.status)
    expect(await models()).toBe(200)

    await item.getByRole('button', { name: 'Revoke key e2e script' }).click()
    await master.getByRole('button', { name: 'Yes, delete' }).click()
    await item.waitFor({ state: 'detached' })
    expect(await models()).toBe(401)
  })

  it('fits a phone-width screen without sideways scrolling', async () => {
    await master.setViewportSize({ width: 390, height: 844 })
    for (const link of ['Chat', 'Personas', 'Usage', 'Keys', 'Users']) {
      await go(master, link)
      const overflow = await master.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
      expect(overflow, `${link} overflows by ${String(overflow)}px`).toBeLessThanOrEqual(0)
    }
    await go(master, 'Usage')
    await shown(master.getByRole('figure', { name: 'Spend per day' }).locator('.recharts-bar-rectangle').first())
    await screenshot(master, stack, 'usage-phone')
    await go(master, 'Chat')
    await screenshot(master, stack, 'chat-phone')
  })
})
