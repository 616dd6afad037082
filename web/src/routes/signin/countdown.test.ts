import { act, renderHook } from '@testing-library/react'
import { ApiError } from '../../api/http'
import { secondsLeft, useCountdown } from './countdown'
import { describeSignInError } from './errors'

describe('secondsLeft', () => {
  it('rounds up, so the last second is still shown', () => {
    expect(secondsLeft(10_000, 0)).toBe(10)
    expect(secondsLeft(10_000, 9_001)).toBe(1)
    expect(secondsLeft(10_000, 9_999)).toBe(1)
  })

  it('is 0 once the deadline has passed, or without one', () => {
    expect(secondsLeft(10_000, 10_000)).toBe(0)
    expect(secondsLeft(10_000, 12_000)).toBe(0)
    expect(secondsLeft(null, 5)).toBe(0)
  })
})

describe('useCountdown', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }))
  afterEach(() => vi.useRealTimers())

  it('counts the Retry-After seconds down to 0 and stops', () => {
    const { result } = renderHook(() => useCountdown())
    expect(result.current.remaining).toBe(0)

    act(() => result.current.start(3))
    expect(result.current.remaining).toBe(3)

    act(() => vi.advanceTimersByTime(1_000))
    expect(result.current.remaining).toBe(2)
    act(() => vi.advanceTimersByTime(1_000))
    expect(result.current.remaining).toBe(1)
    act(() => vi.advanceTimersByTime(1_000))
    expect(result.current.remaining).toBe(0)
    // Stopped: no timer left running once the wait is over.
    expect(vi.getTimerCount()).toBe(0)
  })

  it('restarts from a new wait and can be cleared', () => {
    const { result } = renderHook(() => useCountdown())
    act(() => result.current.start(10))
    act(() => vi.advanceTimersByTime(4_000))
    expect(result.current.remaining).toBe(6)
    act(() => result.current.start(20))
    expect(result.current.remaining).toBe(20)
    act(() => result.current.clear())
    expect(result.current.remaining).toBe(0)
  })
})

describe('describeSignInError', () => {
  it('turns a 429 into a wait of Retry-After seconds', () => {
    const problem = describeSignInError(new ApiError(429, 'rate_limited', 'Too many', 42), 'login')
    expect(problem).toEqual({ key: 'tooManyAttempts', retryAfterS: 42 })
  })

  it('says which words fit the other answers', () => {
    expect(describeSignInError(new ApiError(401, 'unauthorized', 'Wrong user name or password.', null), 'login')?.key).toBe('wrongCredentials')
    expect(describeSignInError(new ApiError(409, 'conflict', 'x', null), 'setup')?.key).toBe('setupDone')
    expect(describeSignInError(new ApiError(403, 'forbidden', 'x', null), 'signup')?.key).toBe('signupClosed')
    expect(describeSignInError(new ApiError(422, 'bad_input', 'Too short.', null), 'signup')).toEqual({ key: 'server', message: 'Too short.' })
    expect(describeSignInError(new TypeError('Failed to fetch'), 'login')?.key).toBe('network')
  })

  it('maps Firebase codes, and stays quiet when the popup was closed', () => {
    expect(describeSignInError({ code: 'auth/invalid-credential' }, 'firebase')?.key).toBe('wrongEmailOrPassword')
    expect(describeSignInError({ code: 'auth/popup-closed-by-user' }, 'firebase')).toBeNull()
  })
})
