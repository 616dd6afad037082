// Placeholder: being built.
export function AddPage() {
  return <h1 className="text-2xl font-semibold">AddPage</h1>
}
