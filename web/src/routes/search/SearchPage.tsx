// Placeholder: being built.
export function SearchPage() {
  return <h1 className="text-2xl font-semibold">SearchPage</h1>
}
