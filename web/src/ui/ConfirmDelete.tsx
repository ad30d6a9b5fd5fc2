// The inline "are you sure?" of every delete: the question, a destructive button and "Keep it",
// which has the focus so Enter or Space never deletes by accident.
import type { ReactNode } from 'react'

export function ConfirmDelete({
  label,
  busy,
  onConfirm,
  onKeep,
  children,
}: {
  /** What is being deleted, for the dialog's accessible name: "Delete {label}?". */
  label: string
  busy: boolean
  onConfirm: () => void
  onKeep: () => void
  /** The question, with what deleting means. */
  children: ReactNode
}) {
  return (
    <div role="alertdialog" aria-label={`Delete ${label}?`} className="rounded-md bg-red-50 p-3 text-sm">
      <p>{children}</p>
      <div className="mt-2 flex gap-2">
        <button type="button" onClick={onConfirm} disabled={busy} className="btn-danger">
          {busy ? 'Deleting…' : 'Yes, delete'}
        </button>
        <button type="button" autoFocus onClick={onKeep} disabled={busy} className="btn-secondary">
          Keep it
        </button>
      </div>
    </div>
  )
}
