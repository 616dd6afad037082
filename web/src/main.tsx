import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { RouterProvider } from '@tanstack/react-router'
import './i18n'
import './app.css'
import { ApiError } from './api/http'
import { router } from './router'
import { SessionProvider } from './session'

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // 4xx answers will not change on a retry; busy answers are retried by the pages that honour
      // Retry-After, never by blind repetition.
      retry: (count, error) => !(error instanceof ApiError) && count < 2,
      staleTime: 10_000,
      refetchOnWindowFocus: false,
    },
  },
})

const root = document.getElementById('root')
if (!root) throw new Error('#root missing from index.html')
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <SessionProvider>
        <RouterProvider router={router} />
      </SessionProvider>
    </QueryClientProvider>
  </StrictMode>,
)
