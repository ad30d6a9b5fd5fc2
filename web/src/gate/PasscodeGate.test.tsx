import { render, screen } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { App } from '../App'
import { USER, errorResponse, fakeFetch, jsonResponse, signedIn, signedInRoutes } from '../test/fakeApi'

const verified = () =>
  jsonResponse(200, { token: 'fresh-token', token_type: 'Bearer', expires_at: '2099-01-01T00:00:00Z', user: USER })

describe('the passcode gate', () => {
  it('guards every page: a signed-out visitor to #/usage sees the gate', () => {
    fakeFetch({})
    window.location.hash = '#/usage'

    render(<App />)

    expect(screen.getByLabelText('Passcode')).toBeInTheDocument()
    expect(screen.queryByRole('heading', { name: 'Usage' })).not.toBeInTheDocument()
  })

  it('signs in with the passcode, keeps the token for the browser session and opens the app', async () => {
    const fake = fakeFetch({ 'POST /auth/verify': verified, ...signedInRoutes() })
    render(<App />)

    await userEvent.type(screen.getByLabelText('Passcode'), 'helix-master-dev{Enter}')

    expect(await screen.findByRole('button', { name: 'Sign out' })).toBeInTheDocument()
    expect(fake.callsTo('POST', '/auth/verify')[0]?.body).toEqual({ passcode: 'helix-master-dev' })
    expect(sessionStorage.getItem('helix.session')).toContain('fresh-token')
    await screen.findByText('Budget left: $10.00')
    expect(fake.callsTo('GET', '/v1/budget')[0]?.headers.get('authorization')).toBe('Bearer fresh-token')
    // The role in the answer decides what the app offers: an admin gets the grants screen.
    expect(screen.getByRole('link', { name: 'Grants' })).toBeInTheDocument()
  })

  it('says so when the passcode is wrong, and stays on the gate', async () => {
    fakeFetch({ 'POST /auth/verify': () => errorResponse(401, 'invalid_passcode', 'The passcode is not valid') })
    render(<App />)

    await userEvent.type(screen.getByLabelText('Passcode'), 'guess')
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }))

    expect(await screen.findByRole('alert')).toHaveTextContent('That passcode is not right')
    expect(screen.getByLabelText('Passcode')).toHaveAttribute('aria-invalid', 'true')
    expect(sessionStorage.getItem('helix.session')).toBeNull()
  })

  it('shows how long to wait after too many attempts (429 Retry-After)', async () => {
    fakeFetch({
      'POST /auth/verify': () =>
        errorResponse(429, 'too_many_attempts', 'Too many attempts', {}, { 'retry-after': '600' }),
    })
    render(<App />)

    await userEvent.type(screen.getByLabelText('Passcode'), 'helix-master-dev{Enter}')

    expect(await screen.findByRole('alert')).toHaveTextContent('Too many failed attempts. Try again in 10 minutes.')
  })

  it('shows any other API error as the API message', async () => {
    fakeFetch({ 'POST /auth/verify': () => errorResponse(503, 'database_unavailable', 'The database is unavailable') })
    render(<App />)

    await userEvent.type(screen.getByLabelText('Passcode'), 'x{Enter}')

    expect(await screen.findByRole('alert')).toHaveTextContent('The database is unavailable')
  })

  it('returns to the gate saying the session expired when any call answers 401', async () => {
    signedIn()
    const fake = fakeFetch({
      ...signedInRoutes(),
      'GET /v1/agents': () => errorResponse(401, 'invalid_token', 'Invalid or expired token'),
    })

    render(<App />)

    expect(await screen.findByText('Your session expired — sign in again.')).toBeInTheDocument()
    expect(screen.getByLabelText('Passcode')).toBeInTheDocument()
    expect(sessionStorage.getItem('helix.session')).toBeNull()
    expect(fake.callsTo('POST', '/auth/logout'), 'a dead token has nothing to revoke').toHaveLength(0)
  })

  it('signs out back to the gate, forgets the token and revokes it on the server', async () => {
    signedIn('token-to-end')
    const fake = fakeFetch({ ...signedInRoutes(), 'POST /auth/logout': () => jsonResponse(204, null) })
    render(<App />)

    await userEvent.click(await screen.findByRole('button', { name: 'Sign out' }))

    expect(screen.getByLabelText('Passcode')).toBeInTheDocument()
    expect(sessionStorage.getItem('helix.session')).toBeNull()
    const logout = fake.callsTo('POST', '/auth/logout')
    expect(logout).toHaveLength(1)
    expect(logout[0]?.headers.get('authorization')).toBe('Bearer token-to-end')
  })

  it('ignores a stored session that has already expired', () => {
    sessionStorage.setItem(
      'helix.session',
      JSON.stringify({ token: 'old', expiresAt: '2000-01-01T00:00:00Z', user: USER }),
    )
    fakeFetch({})

    render(<App />)

    expect(screen.getByLabelText('Passcode')).toBeInTheDocument()
  })
})
