// Firebase sign-in, used only when the server runs in Firebase mode. Callers load this module with a
// dynamic import() so the SDK never lands in the first bundle of a local-mode install.
import { getApp, getApps, initializeApp, type FirebaseApp } from 'firebase/app'
import {
  getAuth,
  GoogleAuthProvider,
  signInWithEmailAndPassword,
  signInWithPopup,
  signOut,
  type Auth,
} from 'firebase/auth'
import type { AuthConfig } from '../api/auth'

export type FirebaseSettings = NonNullable<AuthConfig['firebase']>

export interface FirebaseSignIn {
  /** Signs in with e-mail and password (throws the SDK's error, whose `code` says why). */
  withPassword(email: string, password: string): Promise<void>
  /** Signs in with a Google account in a popup. */
  withGoogle(): Promise<void>
  /** Waits for a sign-in remembered from an earlier visit; true when there is one. */
  restore(): Promise<boolean>
  /** A current ID token (refreshed by the SDK when it has expired), or null when signed out. */
  idToken(): Promise<string | null>
  signOut(): Promise<void>
}

function appFor(settings: FirebaseSettings): FirebaseApp {
  // Vite's hot reload and a second sign-in attempt must not initialise the default app twice.
  if (getApps().length > 0) return getApp()
  return initializeApp({
    apiKey: settings.api_key,
    authDomain: settings.auth_domain,
    projectId: settings.project_id,
  })
}

export function firebaseSignIn(settings: FirebaseSettings): FirebaseSignIn {
  const auth: Auth = getAuth(appFor(settings))
  return {
    withPassword: async (email, password) => {
      await signInWithEmailAndPassword(auth, email, password)
    },
    withGoogle: async () => {
      await signInWithPopup(auth, new GoogleAuthProvider())
    },
    restore: async () => {
      await auth.authStateReady()
      return auth.currentUser !== null
    },
    idToken: async () => (auth.currentUser ? auth.currentUser.getIdToken() : null),
    signOut: () => signOut(auth),
  }
}
