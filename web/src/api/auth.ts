// Typed client of /api/auth: configuration, the session, sign-in and out, password, API keys.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api } from './http'

export interface AuthConfig {
  mode: 'local' | 'firebase'
  signup_open: boolean
  needs_setup: boolean
  firebase: { api_key: string; auth_domain: string; project_id: string } | null
}

export interface SessionUser {
  uid: string
  username: string | null
  is_admin: boolean
}

export interface Session {
  user: SessionUser
  csrf_token: string | null
}

export interface Credentials {
  username: string
  password: string
}

export interface ApiKey {
  id: number
  name: string
  prefix: string
  created_at: string
  last_used_at: string | null
}

export const authKeys = {
  config: ['auth', 'config'] as const,
  session: ['auth', 'session'] as const,
  keys: ['auth', 'keys'] as const,
}

export const authApi = {
  config: (signal?: AbortSignal) => api<AuthConfig>('/api/auth/config', { signal }),
  me: (signal?: AbortSignal) => api<Session>('/api/auth/me', { signal }),
  login: (body: Credentials) => api<Session>('/api/auth/login', { method: 'POST', body }),
  setup: (body: Credentials) => api<Session>('/api/auth/setup', { method: 'POST', body }),
  signup: (body: Credentials) => api<Session>('/api/auth/signup', { method: 'POST', body }),
  logout: () => api<void>('/api/auth/logout', { method: 'POST' }),
  changePassword: (body: { current_password: string; new_password: string }) =>
    api<void>('/api/auth/password', { method: 'POST', body }),
  listKeys: (signal?: AbortSignal) => api<{ keys: ApiKey[] }>('/api/auth/keys', { signal }),
  createKey: (name: string) => api<{ key: ApiKey; secret: string }>('/api/auth/keys', { method: 'POST', body: { name } }),
  revokeKey: (id: number) => api<void>(`/api/auth/keys/${id}`, { method: 'DELETE' }),
}

export function useAuthConfig() {
  return useQuery({ queryKey: authKeys.config, queryFn: ({ signal }) => authApi.config(signal), staleTime: 60_000 })
}

export function useApiKeys() {
  return useQuery({ queryKey: authKeys.keys, queryFn: ({ signal }) => authApi.listKeys(signal) })
}

export function useCreateKey() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: authApi.createKey,
    onSuccess: () => client.invalidateQueries({ queryKey: authKeys.keys }),
  })
}

export function useRevokeKey() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: authApi.revokeKey,
    onSuccess: () => client.invalidateQueries({ queryKey: authKeys.keys }),
  })
}

export function useChangePassword() {
  return useMutation({ mutationFn: authApi.changePassword })
}
