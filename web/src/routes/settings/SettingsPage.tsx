// Placeholder: being built.
export function SettingsPage() {
  return <h1 className="text-2xl font-semibold">SettingsPage</h1>
}
