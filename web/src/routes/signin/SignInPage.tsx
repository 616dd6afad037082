// Placeholder: being built.
export function SignInPage() {
  return <h1 className="text-2xl font-semibold">SignInPage</h1>
}
