// Checks a chosen avatar file before anything is sent: the API only signs PNG, JPEG and WebP
// uploads up to a size limit, so say what is wrong with the file in words, here and now.
import { AVATAR_CONTENT_TYPES, AVATAR_MAX_BYTES, type AvatarContentType } from '../api/types'

export type AvatarCheck = { ok: true; contentType: AvatarContentType } | { ok: false; message: string }

export function checkAvatarFile(file: File, maxBytes: number = AVATAR_MAX_BYTES): AvatarCheck {
  const type = file.type.toLowerCase()
  const contentType = AVATAR_CONTENT_TYPES.find((allowed) => allowed === type)
  if (!contentType) {
    const what = file.type ? `a file of type ${file.type}` : 'not a PNG, JPEG or WebP image'
    return { ok: false, message: `“${file.name}” is ${what}. Choose a PNG, JPEG or WebP image.` }
  }
  if (file.size === 0) return { ok: false, message: `“${file.name}” is empty. Choose another image.` }
  if (file.size > maxBytes) {
    return {
      ok: false,
      message: `“${file.name}” is ${formatBytes(file.size)}; an avatar can be at most ${formatBytes(maxBytes)}. Choose a smaller image.`,
    }
  }
  return { ok: true, contentType }
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`
}
