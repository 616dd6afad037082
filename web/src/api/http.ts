// The one HTTP client every typed API module uses: JSON in and out, the session's CSRF token on
// writes, errors as ApiError with the server's stable code and its Retry-After.

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  /** Seconds the server asked us to wait (429 / 503), if it said. */
  readonly retryAfterS: number | null

  constructor(status: number, code: string, message: string, retryAfterS: number | null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.retryAfterS = retryAfterS
  }

  /** Busy or rate limited: worth retrying after retryAfterS. */
  get retryable(): boolean {
    return this.status === 429 || this.status === 503
  }
}

let csrfToken: string | null = null
let onUnauthorized: (() => void) | null = null
let bearerTokenProvider: (() => Promise<string | null>) | null = null

/** Set by the session once it knows its CSRF token (cookie sessions need it on every write). */
export function setCsrfToken(token: string | null): void {
  csrfToken = token
}

/** Called when the server says our session is gone (401), so the app can show the sign-in page. */
export function setUnauthorizedHandler(handler: (() => void) | null): void {
  onUnauthorized = handler
}

/**
 * Set in Firebase mode once the user has signed in: the provider returns a current ID token (the SDK
 * refreshes it when it expires), sent as a bearer token on every request. Null turns it off.
 */
export function setBearerTokenProvider(provider: (() => Promise<string | null>) | null): void {
  bearerTokenProvider = provider
}

export function parseRetryAfter(value: string | null): number | null {
  if (value === null) return null
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Math.max(0, seconds)
  const date = Date.parse(value)
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000))
}

export async function errorFrom(response: Response): Promise<ApiError> {
  let code = 'http_' + response.status
  let message = response.statusText || `HTTP ${response.status}`
  try {
    const body: unknown = await response.json()
    const error = (body as { error?: { code?: unknown; message?: unknown } }).error
    if (error && typeof error.code === 'string') code = error.code
    if (error && typeof error.message === 'string') message = error.message
  } catch {
    // Not our JSON error shape (a proxy's page): keep the status text.
  }
  return new ApiError(response.status, code, message, parseRetryAfter(response.headers.get('Retry-After')))
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE'
  /** A JSON body, or FormData for uploads. */
  body?: unknown
  signal?: AbortSignal
  headers?: Record<string, string>
  /** Statuses besides 2xx whose body is an answer, not an error (readiness answers 503 with its checks). */
  okStatuses?: readonly number[]
}

/** Sends a request to the API and returns the raw response when it is OK (throws ApiError otherwise). */
export async function apiResponse(path: string, options: RequestOptions = {}): Promise<Response> {
  const method = options.method ?? 'GET'
  const headers: Record<string, string> = { Accept: 'application/json', ...options.headers }
  let body: BodyInit | undefined
  if (options.body instanceof FormData) {
    body = options.body
  } else if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(options.body)
  }
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken
  if (bearerTokenProvider && headers.Authorization === undefined) {
    const token = await bearerTokenProvider()
    if (token) headers.Authorization = `Bearer ${token}`
  }
  const response = await fetch(path, {
    method,
    headers,
    body,
    signal: options.signal,
    credentials: 'same-origin',
  })
  if (!response.ok && !options.okStatuses?.includes(response.status)) {
    const error = await errorFrom(response)
    if (response.status === 401 && onUnauthorized && !path.startsWith('/api/auth/')) onUnauthorized()
    throw error
  }
  return response
}

/** Sends a request and returns its JSON body (undefined for 204). */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const response = await apiResponse(path, options)
  if (response.status === 204) return undefined as T
  return (await response.json()) as T
}

/** Builds a query string from defined, non-empty values. */
export function query(params: Record<string, string | number | boolean | null | undefined>): string {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value))
  }
  const text = search.toString()
  return text ? `?${text}` : ''
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException('Aborted', 'AbortError'))
      return
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(new DOMException('Aborted', 'AbortError'))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts?: number
  signal?: AbortSignal
  /** Told before each wait, so the UI can say "busy, retrying in N s". */
  onWait?: (seconds: number, error: ApiError) => void
}

/**
 * Runs `call`, and when the server answers 429 or 503 waits the Retry-After it gave (never less than
 * a second, never hammering) and tries again, up to `attempts` times.
 */
export async function withRetryAfter<T>(call: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 5
  for (let attempt = 1; ; attempt++) {
    try {
      return await call()
    } catch (error) {
      if (!(error instanceof ApiError) || !error.retryable || attempt >= attempts) throw error
      const seconds = Math.max(1, error.retryAfterS ?? 2 ** attempt)
      options.onWait?.(seconds, error)
      await sleep(seconds * 1000, options.signal)
    }
  }
}
