// Sends a file straight to S3 through a presigned URL from the API. Not through request(): the
// bucket is another origin, gets no bearer token, and answers in S3's XML, not the API's JSON.
import { ApiError } from './client'
import type { AvatarUpload } from './types'

// The browser sets these itself (from the body and the URL) and refuses to let scripts set them.
const SET_BY_THE_BROWSER = new Set(['content-length', 'host'])

export async function uploadToPresignedUrl(upload: AvatarUpload, file: Blob): Promise<void> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(upload.headers)) {
    if (!SET_BY_THE_BROWSER.has(name.toLowerCase())) headers[name] = value
  }
  let response: Response
  try {
    response = await fetch(upload.upload_url, { method: upload.method, headers, body: file })
  } catch {
    throw new ApiError({
      status: 0,
      code: 'upload_failed',
      message: 'Could not reach the avatar storage. Check your connection and try again.',
    })
  }
  if (!response.ok) {
    const detail = s3Message(await response.text().catch(() => ''))
    throw new ApiError({
      status: response.status,
      code: 'upload_failed',
      message: `The avatar storage refused the upload (HTTP ${response.status})${detail ? `: ${detail}` : ''}. Try again.`,
    })
  }
}

/** S3 explains a refusal in `<Error><Code>…</Code><Message>…</Message></Error>`. */
function s3Message(body: string): string | null {
  const message = /<Message>([^<]{1,300})<\/Message>/.exec(body)?.[1]
  const code = /<Code>([^<]{1,100})<\/Code>/.exec(body)?.[1]
  if (message && code) return `${message} (${code})`
  return message ?? code ?? null
}
