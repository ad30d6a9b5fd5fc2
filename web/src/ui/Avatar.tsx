// A persona's or preset's picture: an image URL (a short-lived presigned S3 GET for personas), an
// emoji for presets, else the first letter. A URL that fails to load (expired) falls back too.
import { useState } from 'react'

const SIZES = { sm: 'h-6 w-6 text-xs', lg: 'h-12 w-12 text-lg' } as const

export function Avatar({
  image,
  emoji,
  label,
  size = 'sm',
}: {
  /** An http(s) image URL; anything else is ignored. */
  image?: string | null
  emoji?: string | null
  label: string
  size?: keyof typeof SIZES
}) {
  const [failedUrl, setFailedUrl] = useState<string | null>(null)
  const box = `${SIZES[size]} shrink-0 rounded-full`
  if (image && /^https?:\/\//.test(image) && failedUrl !== image) {
    return (
      <img
        src={image}
        alt=""
        onError={() => {
          setFailedUrl(image)
        }}
        className={`${box} object-cover`}
        referrerPolicy="no-referrer"
      />
    )
  }
  if (emoji) return <span aria-hidden="true">{emoji}</span>
  return (
    <span aria-hidden="true" className={`${box} flex items-center justify-center bg-slate-200 font-semibold text-slate-700`}>
      {label.slice(0, 1).toUpperCase()}
    </span>
  )
}
