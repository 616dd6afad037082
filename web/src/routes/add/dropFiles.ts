// The files of a drop: loose files, and every file inside dropped folders (walked through
// webkitGetAsEntry, since DataTransfer.files lists a folder as one useless entry).

export interface PickedFile {
  file: File
  /** Its path inside a dropped or chosen folder ("notes/2024/a.md"), else its name. */
  path: string
}

// System clutter a folder carries that is never a document.
const JUNK = new Set(['thumbs.db', 'desktop.ini'])

export function isJunk(name: string): boolean {
  return name.startsWith('.') || JUNK.has(name.toLowerCase())
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject))
}

function readBatch(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject))
}

async function walk(entry: FileSystemEntry, prefix: string, out: PickedFile[]): Promise<void> {
  if (isJunk(entry.name)) return
  if (entry.isFile) {
    out.push({ file: await fileOf(entry as FileSystemFileEntry), path: prefix + entry.name })
    return
  }
  if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader()
    // readEntries answers in batches (100 in Chrome) until it returns an empty one.
    for (let batch = await readBatch(reader); batch.length > 0; batch = await readBatch(reader)) {
      for (const child of batch) await walk(child, `${prefix}${entry.name}/`, out)
    }
  }
}

/** Every file of a drop, folders walked. Call it synchronously in the drop handler (items expire). */
export async function filesFromDrop(data: DataTransfer): Promise<PickedFile[]> {
  const entries: FileSystemEntry[] = []
  const loose: File[] = []
  for (const item of Array.from(data.items ?? [])) {
    if (item.kind !== 'file') continue
    const entry = typeof item.webkitGetAsEntry === 'function' ? item.webkitGetAsEntry() : null
    if (entry) entries.push(entry)
    else {
      const file = item.getAsFile()
      if (file) loose.push(file)
    }
  }
  if (entries.length === 0 && loose.length === 0) loose.push(...Array.from(data.files ?? []))
  const out: PickedFile[] = loose.filter((f) => !isJunk(f.name)).map((file) => ({ file, path: file.name }))
  for (const entry of entries) await walk(entry, '', out)
  return out
}

/** The files of a file input (a chosen folder's files carry their relative path). */
export function filesFromInput(list: FileList | null): PickedFile[] {
  return Array.from(list ?? [])
    .filter((file) => !isJunk(file.name))
    .map((file) => ({ file, path: file.webkitRelativePath || file.name }))
}
