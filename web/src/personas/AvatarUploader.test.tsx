import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { App } from '../App'
import type { AvatarUpload, Persona } from '../api/types'
import {
  errorResponse,
  fakeFetch,
  jsonResponse,
  signedIn,
  signedInRoutes,
  stubObjectUrls,
} from '../test/fakeApi'

const SIGNED: AvatarUpload = {
  upload_url: 'https://s3.example/avatars-b/avatars/u-1/p-1/o.png?X-Amz-Signature=abc',
  method: 'PUT',
  headers: { 'content-length': '5', 'content-type': 'image/png' },
  key: 'avatars/u-1/p-1/o.png',
  expires_at: '2030-01-01T00:00:00Z',
}

function persona(avatarUrl: string | null): Persona {
  return {
    id: 'p-1',
    name: 'Pirate',
    prompt: 'Talk like a pirate.',
    avatar_url: avatarUrl,
    created_at: '2025-01-01T00:00:00Z',
    updated_at: '2025-01-01T00:00:00Z',
  }
}

const png = () => new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x21])], 'me.png', { type: 'image/png' })

let objectUrls: ReturnType<typeof stubObjectUrls>
beforeEach(() => {
  objectUrls = stubObjectUrls()
})
afterEach(() => {
  objectUrls.restore()
})

async function openAvatarForm(routes: Parameters<typeof fakeFetch>[0]) {
  signedIn()
  window.location.hash = '#/personas'
  const fake = fakeFetch({
    ...signedInRoutes(),
    'GET /v1/personas': () => jsonResponse(200, { personas: [persona(null)], next_cursor: null }),
    ...routes,
  })
  render(<App />)
  const user = userEvent.setup({ applyAccept: false })
  const toggle = await screen.findByRole('button', { name: 'Add avatar for Pirate' })
  await user.click(toggle)
  expect(toggle).toHaveAttribute('aria-expanded', 'true')
  return { fake, user, input: screen.getByLabelText('New avatar for Pirate') }
}

describe('uploading a persona avatar', () => {
  it('previews the file, gets a presigned URL for its type and size, PUTs it there, then shows the new avatar', async () => {
    let avatarUrl: string | null = null
    const { fake, user, input } = await openAvatarForm({
      'GET /v1/personas': () => jsonResponse(200, { personas: [persona(avatarUrl)], next_cursor: null }),
      'POST /v1/personas/p-1/avatar': () => jsonResponse(200, SIGNED),
      'PUT /avatars-b/avatars/u-1/p-1/o.png': () => {
        avatarUrl = 'https://s3.example/avatars-b/avatars/u-1/p-1/o.png?get'
        return new Response(null, { status: 200 })
      },
    })
    const file = png()

    await user.upload(input, file)

    const preview = screen.getByRole('img', { name: 'Preview of the new avatar for Pirate' })
    expect(preview).toHaveAttribute('src', 'blob:preview-1')
    expect(screen.getByText('Preview: not uploaded yet.')).toBeInTheDocument()
    expect(fake.callsTo('POST', '/v1/personas/p-1/avatar')).toHaveLength(0)

    await user.click(screen.getByRole('button', { name: 'Upload avatar' }))

    expect(await screen.findByText('Avatar uploaded.')).toBeInTheDocument()
    expect(fake.callsTo('POST', '/v1/personas/p-1/avatar')[0]?.body).toEqual({
      content_type: 'image/png',
      content_length: 5,
    })
    const put = fake.callsTo('PUT', '/avatars-b/avatars/u-1/p-1/o.png')[0]
    expect(put?.rawBody).toBe(file)
    expect(put?.headers.get('content-type')).toBe('image/png')
    expect(screen.getByRole('img', { name: 'Preview of the new avatar for Pirate' })).toBeInTheDocument()
    await waitFor(() => {
      expect(document.querySelector('img[src="https://s3.example/avatars-b/avatars/u-1/p-1/o.png?get"]')).not.toBeNull()
    })
    expect(screen.getByRole('button', { name: 'Change avatar for Pirate' })).toBeInTheDocument()
  })

  it('refuses a file of another type before sending anything, with a clear message', async () => {
    const { fake, user, input } = await openAvatarForm({})

    await user.upload(input, new File(['GIF89a'], 'cat.gif', { type: 'image/gif' }))

    expect(screen.getByRole('alert')).toHaveTextContent(
      '“cat.gif” is a file of type image/gif. Choose a PNG, JPEG or WebP image.',
    )
    expect(input).toHaveAttribute('aria-invalid', 'true')
    expect(screen.queryByRole('img', { name: /Preview/ })).not.toBeInTheDocument()
    expect(screen.getByRole('button', { name: 'Upload avatar' })).toBeDisabled()
    expect(fake.calls.filter((call) => call.method !== 'GET' && !call.path.startsWith('/v1/budget/grants'))).toEqual([])
  })

  it('refuses a file over 2 MB, saying how big it is', async () => {
    const { user, input } = await openAvatarForm({})

    await user.upload(input, new File([new Uint8Array(2 * 1024 * 1024 + 1)], 'huge.png', { type: 'image/png' }))

    expect(screen.getByRole('alert')).toHaveTextContent('“huge.png” is 2.0 MB; an avatar can be at most 2.0 MB.')
    expect(screen.getByRole('button', { name: 'Upload avatar' })).toBeDisabled()
  })

  it('frees the preview of a file that is replaced', async () => {
    const { user, input } = await openAvatarForm({})

    await user.upload(input, png())
    await user.upload(input, new File(['x'], 'other.webp', { type: 'image/webp' }))

    expect(screen.getByRole('img', { name: /Preview/ })).toHaveAttribute('src', 'blob:preview-2')
    expect(objectUrls.revoked).toEqual(['blob:preview-1'])
  })

  it("shows the API's message when avatars are not configured, and uploads nothing", async () => {
    const { fake, user, input } = await openAvatarForm({
      'POST /v1/personas/p-1/avatar': () =>
        errorResponse(503, 'avatars_not_configured', 'avatar uploads are not configured on this server'),
    })

    await user.upload(input, png())
    await user.click(screen.getByRole('button', { name: 'Upload avatar' }))

    expect(await screen.findByRole('alert')).toHaveTextContent('avatar uploads are not configured on this server')
    expect(fake.calls.some((call) => call.method === 'PUT')).toBe(false)
    expect(screen.getByRole('button', { name: 'Upload avatar' })).toBeEnabled()
  })

  it('says so when the storage refuses the file', async () => {
    const { user, input } = await openAvatarForm({
      'POST /v1/personas/p-1/avatar': () => jsonResponse(200, SIGNED),
      'PUT /avatars-b/avatars/u-1/p-1/o.png': () =>
        new Response('<Error><Code>SignatureDoesNotMatch</Code></Error>', { status: 403 }),
    })

    await user.upload(input, png())
    await user.click(screen.getByRole('button', { name: 'Upload avatar' }))

    expect(await screen.findByRole('alert')).toHaveTextContent(
      'The avatar storage refused the upload (HTTP 403): SignatureDoesNotMatch',
    )
    expect(screen.queryByText('Avatar uploaded.')).not.toBeInTheDocument()
  })

  it("shows each persona's avatar in the list, falling back to its initial", async () => {
    signedIn()
    window.location.hash = '#/personas'
    fakeFetch({
      ...signedInRoutes(),
      'GET /v1/personas': () =>
        jsonResponse(200, {
          personas: [persona('https://s3.example/a.png'), { ...persona(null), id: 'p-2', name: 'Butler' }],
          next_cursor: null,
        }),
    })
    render(<App />)

    const list = await screen.findByRole('list', { name: 'Your personas' })
    const [pirate, butler] = within(list).getAllByRole('listitem')
    expect(pirate?.querySelector('img')).toHaveAttribute('src', 'https://s3.example/a.png')
    expect(butler?.querySelector('img')).toBeNull()
    expect(butler).toHaveTextContent('B')
  })
})
