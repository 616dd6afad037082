// Placeholder: being built.
export function LibraryPage() {
  return <h1 className="text-2xl font-semibold">LibraryPage</h1>
}
