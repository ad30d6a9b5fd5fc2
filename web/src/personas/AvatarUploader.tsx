// A new avatar for a persona: choose an image, see it, upload it. The API signs a PUT URL for the
// file's type and size (POST /v1/personas/{id}/avatar); the file then goes straight to S3.
import { useEffect, useId, useRef, useState, type ChangeEvent, type SubmitEvent } from 'react'
import { useApi } from '../api/context'
import { AVATAR_CONTENT_TYPES, AVATAR_MAX_BYTES } from '../api/types'
import { uploadToPresignedUrl } from '../api/upload'
import { ErrorMessage } from '../ui/ErrorMessage'
import { checkAvatarFile, formatBytes } from './avatarFile'

interface Chosen {
  file: File
  previewUrl: string
}

export function AvatarUploader({
  personaId,
  personaName,
  onUploaded,
}: {
  personaId: string
  personaName: string
  onUploaded: () => void
}) {
  const api = useApi()
  const inputId = useId()
  const hintId = useId()
  const input = useRef<HTMLInputElement>(null)
  const [chosen, setChosen] = useState<Chosen | null>(null)
  const [invalid, setInvalid] = useState<string | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [state, setState] = useState<'idle' | 'uploading' | 'uploaded'>('idle')
  const previewUrl = chosen?.previewUrl ?? null

  // Each preview URL holds its file in memory until revoked: free it when replaced or unmounted.
  useEffect(() => {
    if (!previewUrl) return
    return () => {
      URL.revokeObjectURL(previewUrl)
    }
  }, [previewUrl])

  function choose(event: ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0] ?? null
    setError(null)
    setState('idle')
    if (!file) {
      setChosen(null)
      setInvalid(null)
      return
    }
    const check = checkAvatarFile(file)
    if (!check.ok) {
      setChosen(null)
      setInvalid(check.message)
      return
    }
    setInvalid(null)
    setChosen({ file, previewUrl: URL.createObjectURL(file) })
  }

  async function upload(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault()
    if (!chosen) return
    const check = checkAvatarFile(chosen.file)
    if (!check.ok) return
    setState('uploading')
    setError(null)
    try {
      const signed = await api.requestAvatarUpload(personaId, {
        content_type: check.contentType,
        content_length: chosen.file.size,
      })
      await uploadToPresignedUrl(signed, chosen.file)
      setState('uploaded')
      if (input.current) input.current.value = ''
      onUploaded()
    } catch (caught) {
      setError(caught)
      setState('idle')
    }
  }

  const uploading = state === 'uploading'
  return (
    <form onSubmit={(event) => void upload(event)} className="space-y-2 rounded-md bg-slate-50 p-3">
      <div>
        <label htmlFor={inputId} className="label">
          New avatar for {personaName}
        </label>
        <input
          ref={input}
          id={inputId}
          type="file"
          accept={AVATAR_CONTENT_TYPES.join(',')}
          onChange={choose}
          disabled={uploading}
          aria-describedby={hintId}
          aria-invalid={invalid !== null}
          className="mt-1 block w-full text-sm file:mr-3 file:rounded-md file:border file:border-slate-300 file:bg-white file:px-3 file:py-1.5 file:text-sm file:font-medium"
        />
        <p id={hintId} className="mt-1 text-xs text-slate-600">
          PNG, JPEG or WebP, up to {formatBytes(AVATAR_MAX_BYTES)}.
        </p>
      </div>
      {invalid && (
        <p role="alert" className="text-sm text-red-800">
          {invalid}
        </p>
      )}
      {previewUrl && (
        <figure className="flex items-center gap-3">
          <img
            src={previewUrl}
            alt={`Preview of the new avatar for ${personaName}`}
            className="h-16 w-16 rounded-full border border-slate-200 object-cover"
          />
          <figcaption className="text-xs text-slate-600">
            {state === 'uploaded' ? 'Uploaded: this is the avatar now.' : 'Preview: not uploaded yet.'}
          </figcaption>
        </figure>
      )}
      {error !== null && <ErrorMessage error={error} />}
      <p role="status" className="text-sm text-emerald-800">
        {state === 'uploaded' && 'Avatar uploaded.'}
      </p>
      <button type="submit" disabled={!chosen || uploading || state === 'uploaded'} className="btn-primary">
        {uploading ? 'Uploading…' : 'Upload avatar'}
      </button>
    </form>
  )
}
