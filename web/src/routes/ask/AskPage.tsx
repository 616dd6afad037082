// Placeholder: being built.
export function AskPage() {
  return <h1 className="text-2xl font-semibold">AskPage</h1>
}
