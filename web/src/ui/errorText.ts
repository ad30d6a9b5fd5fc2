// The words to show for any thrown value: an ApiError's message is the API's own.
export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message
  return 'Something went wrong.'
}
