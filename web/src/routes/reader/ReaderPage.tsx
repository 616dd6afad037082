// Placeholder: being built.
export function ReaderPage() {
  return <h1 className="text-2xl font-semibold">ReaderPage</h1>
}
