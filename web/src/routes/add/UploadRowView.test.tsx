import { render, screen } from '@testing-library/react'
import type { ReactNode } from 'react'
import { vi } from 'vitest'
import type { UploadRow } from './rows'
import { UploadRowView } from './UploadRowView'

// The row links to an item with the router's Link; a plain anchor stands in (no router in this test).
vi.mock('@tanstack/react-router', () => ({
  Link: ({ children }: { children: ReactNode }) => <a href="#item">{children}</a>,
}))

function zipRow(patch: Partial<UploadRow> = {}): UploadRow {
  return {
    id: 'z',
    name: 'books.zip',
    size: 10,
    kind: 'zip',
    state: 'done',
    itemIds: [],
    files: { done: 2, failed: 0, skipped: 1, total: 3 },
    errors: [],
    skipped: [{ file: 'b.md', code: 'item_deleted', message: 'Its item was deleted while it was being processed.' }],
    ...patch,
  }
}

describe('UploadRowView', () => {
  it('shows a zip file cancelled with its deleted item as cancelled, not as an error', async () => {
    render(<UploadRowView row={zipRow()} onCancel={() => {}} />)
    expect((await screen.findByText(/2 of 3 files/)).textContent).toBe('2 of 3 files · 1 cancelled')
    const line = screen.getByText(/b\.md/)
    expect(line.textContent).toBe('b.md: Cancelled: its item was deleted')
    expect(line.closest('ul')?.className).not.toMatch(/red/)
  })

  it('puts the parser failures of a zip in plain words', async () => {
    const errors = [{ file: 'a.pdf', code: 'parser_out_of_memory', message: 'killed at 1024 MB' }]
    render(<UploadRowView row={zipRow({ state: 'failed', errors, skipped: [] })} onCancel={() => {}} />)
    expect((await screen.findByText(/a\.pdf/)).textContent).toBe('a.pdf: Reading this file needed too much memory, so it was stopped')
  })
})
