// Placeholder: being built.
export function ItemPage() {
  return <h1 className="text-2xl font-semibold">ItemPage</h1>
}
