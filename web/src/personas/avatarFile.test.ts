import { describe, expect, it } from 'vitest'
import { checkAvatarFile, formatBytes } from './avatarFile'

function file(name: string, type: string, bytes: number): File {
  return new File([new Uint8Array(bytes)], name, { type })
}

describe('checking an avatar file before upload', () => {
  it('accepts PNG, JPEG and WebP images within the limit', () => {
    expect(checkAvatarFile(file('a.png', 'image/png', 10))).toEqual({ ok: true, contentType: 'image/png' })
    expect(checkAvatarFile(file('a.jpg', 'image/jpeg', 10))).toEqual({ ok: true, contentType: 'image/jpeg' })
    expect(checkAvatarFile(file('a.webp', 'image/webp', 2 * 1024 * 1024))).toEqual({
      ok: true,
      contentType: 'image/webp',
    })
  })

  it('names the file and its type when the type is not allowed', () => {
    expect(checkAvatarFile(file('cat.gif', 'image/gif', 10))).toEqual({
      ok: false,
      message: '“cat.gif” is a file of type image/gif. Choose a PNG, JPEG or WebP image.',
    })
    expect(checkAvatarFile(file('notes', '', 10))).toEqual({
      ok: false,
      message: '“notes” is not a PNG, JPEG or WebP image. Choose a PNG, JPEG or WebP image.',
    })
  })

  it('says how big the file is and how big it may be', () => {
    expect(checkAvatarFile(file('big.png', 'image/png', 3 * 1024 * 1024))).toEqual({
      ok: false,
      message: '“big.png” is 3.0 MB; an avatar can be at most 2.0 MB. Choose a smaller image.',
    })
    expect(checkAvatarFile(file('empty.png', 'image/png', 0))).toMatchObject({ ok: false, message: expect.stringContaining('is empty') as string })
    expect(checkAvatarFile(file('a.png', 'image/png', 11), 10)).toMatchObject({ ok: false })
  })

  it('writes sizes as people read them', () => {
    expect(formatBytes(512)).toBe('512 bytes')
    expect(formatBytes(1536)).toBe('1.5 KB')
    expect(formatBytes(300 * 1024)).toBe('300 KB')
  })
})
