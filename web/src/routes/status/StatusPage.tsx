// Placeholder: being built.
export function StatusPage() {
  return <h1 className="text-2xl font-semibold">StatusPage</h1>
}
