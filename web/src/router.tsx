// The app's routes (TanStack Router, code-based). Pages load lazily so the first screen stays small.
import {
  createRootRoute,
  createRoute,
  createRouter,
  lazyRouteComponent,
  Outlet,
  redirect,
} from '@tanstack/react-router'
import { AppLayout } from './components/AppLayout'
import { NotFound } from './components/NotFound'

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

function positiveInt(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN
  return Number.isInteger(n) && n > 0 ? n : undefined
}

const rootRoute = createRootRoute({ component: Outlet, notFoundComponent: NotFound })

export interface SignInSearch {
  redirect?: string
}
const signInRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/signin',
  validateSearch: (search: Record<string, unknown>): SignInSearch => ({ redirect: text(search.redirect) }),
  component: lazyRouteComponent(() => import('./routes/signin/SignInPage'), 'SignInPage'),
})

// Every other page needs a session; AppLayout sends a visitor without one to /signin.
const appRoute = createRoute({ getParentRoute: () => rootRoute, id: 'app', component: AppLayout })

const indexRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/',
  beforeLoad: () => {
    throw redirect({ to: '/library' })
  },
})

export interface LibrarySearch {
  q?: string
  type?: string
  tag?: string
  status?: string
  sort?: string
  view?: 'list' | 'grid'
}
const libraryRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/library',
  validateSearch: (search: Record<string, unknown>): LibrarySearch => ({
    q: text(search.q),
    type: text(search.type),
    tag: text(search.tag),
    status: text(search.status),
    sort: text(search.sort),
    view: search.view === 'grid' ? 'grid' : undefined,
  }),
  component: lazyRouteComponent(() => import('./routes/library/LibraryPage'), 'LibraryPage'),
})

const itemRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/library/$itemId',
  component: lazyRouteComponent(() => import('./routes/library/ItemPage'), 'ItemPage'),
})

const addRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/add',
  component: lazyRouteComponent(() => import('./routes/add/AddPage'), 'AddPage'),
})

export interface SearchPageSearch {
  q?: string
}
const searchRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/search',
  validateSearch: (search: Record<string, unknown>): SearchPageSearch => ({ q: text(search.q) }),
  component: lazyRouteComponent(() => import('./routes/search/SearchPage'), 'SearchPage'),
})

export interface AskSearch {
  /** A question to ask in a new chat. */
  q?: string
  /** The open chat's id. */
  chat?: string
}
const askRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/ask',
  validateSearch: (search: Record<string, unknown>): AskSearch => ({ q: text(search.q), chat: text(search.chat) }),
  component: lazyRouteComponent(() => import('./routes/ask/AskPage'), 'AskPage'),
})

export interface AnalyticsSearch {
  term?: string
  /** Only this item's occurrences. */
  item?: string
}
const analyticsRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/analytics',
  validateSearch: (search: Record<string, unknown>): AnalyticsSearch => ({
    term: text(search.term),
    item: text(search.item),
  }),
  component: lazyRouteComponent(() => import('./routes/analytics/AnalyticsPage'), 'AnalyticsPage'),
})

export interface ReaderSearch {
  chunk?: number
  page?: number
  /** First chunk of the slice shown (a multiple of the slice size); 0 is the beginning. */
  offset?: number
}
const readerRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/reader/$itemId',
  validateSearch: (search: Record<string, unknown>): ReaderSearch => ({
    chunk: positiveInt(search.chunk),
    page: positiveInt(search.page),
    offset: search.offset === 0 || search.offset === '0' ? 0 : positiveInt(search.offset),
  }),
  component: lazyRouteComponent(() => import('./routes/reader/ReaderPage'), 'ReaderPage'),
})

const statusRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/status',
  component: lazyRouteComponent(() => import('./routes/status/StatusPage'), 'StatusPage'),
})

const settingsRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/settings',
  component: lazyRouteComponent(() => import('./routes/settings/SettingsPage'), 'SettingsPage'),
})

const routeTree = rootRoute.addChildren([
  signInRoute,
  appRoute.addChildren([
    indexRoute,
    libraryRoute,
    itemRoute,
    addRoute,
    searchRoute,
    askRoute,
    analyticsRoute,
    readerRoute,
    statusRoute,
    settingsRoute,
  ]),
])

export const router = createRouter({ routeTree, defaultPreload: 'intent', scrollRestoration: true })

declare module '@tanstack/react-router' {
  interface Register {
    router: typeof router
  }
}
