// The Add page: drop (or choose) files, folders and zips; each file gets a row that follows it from
// the upload to its ingestion run's end. Below, forms for a note, a highlight and an insight.
import { useMemo, useRef, useState, type DragEvent } from 'react'
import { useTranslation } from 'react-i18next'
import { filesFromDrop, filesFromInput } from './dropFiles'
import { FINISHED_STATES } from './rows'
import { TypedItemForms } from './TypedItemForms'
import { UploadRowView } from './UploadRowView'
import { useUploads } from './useUploads'

const BUTTON =
  'rounded-md border border-orange-700 bg-white px-4 py-2 text-sm font-semibold text-orange-900 hover:bg-orange-50 dark:border-orange-400 dark:bg-stone-900 dark:text-orange-200 dark:hover:bg-stone-800'

// React does not know the folder-picking attribute; it is passed through as is.
const FOLDER_INPUT_PROPS = { webkitdirectory: '', directory: '' } as Record<string, string>

export function AddPage() {
  const { t } = useTranslation()
  const { rows, addFiles, cancel, clearFinished } = useUploads()
  const [dragging, setDragging] = useState(false)
  const fileInput = useRef<HTMLInputElement>(null)
  const folderInput = useRef<HTMLInputElement>(null)
  const dragDepth = useRef(0)

  const counts = useMemo(() => {
    const finished = rows.filter((row) => FINISHED_STATES.includes(row.state)).length
    const failed = rows.filter((row) => row.state === 'failed').length
    return { finished, failed, total: rows.length }
  }, [rows])

  const onDrop = (event: DragEvent) => {
    event.preventDefault()
    dragDepth.current = 0
    setDragging(false)
    // The DataTransfer's items are read now, while the event lasts; the folders are walked after.
    void filesFromDrop(event.dataTransfer).then(addFiles)
  }

  return (
    <div>
      <h1 className="text-2xl font-semibold text-stone-900 dark:text-stone-100">{t('add.title')}</h1>
      <p className="mt-1 text-sm text-stone-600 dark:text-stone-400">{t('add.intro')}</p>

      <div
        data-testid="drop-zone"
        data-dragging={dragging}
        onDragEnter={(e) => {
          e.preventDefault()
          dragDepth.current++
          setDragging(true)
        }}
        onDragOver={(e) => {
          e.preventDefault()
          e.dataTransfer.dropEffect = 'copy'
        }}
        onDragLeave={() => {
          dragDepth.current = Math.max(0, dragDepth.current - 1)
          if (dragDepth.current === 0) setDragging(false)
        }}
        onDrop={onDrop}
        className={
          'mt-5 flex flex-col items-center gap-3 rounded-xl border-2 border-dashed px-4 py-10 text-center transition-colors motion-reduce:transition-none ' +
          (dragging
            ? 'border-orange-600 bg-orange-50 dark:border-orange-400 dark:bg-orange-950'
            : 'border-stone-300 bg-stone-50 dark:border-stone-600 dark:bg-stone-900/60')
        }
      >
        <span aria-hidden="true" className="text-3xl text-orange-700 dark:text-orange-300">
          ⇪
        </span>
        <p className="text-base font-medium text-stone-900 dark:text-stone-100">
          {dragging ? t('add.drop.active') : t('add.drop.label')}
        </p>
        <p className="max-w-lg text-sm text-stone-600 dark:text-stone-400">{t('add.drop.hint')}</p>
        <div className="flex flex-wrap items-center justify-center gap-2">
          <button type="button" className={BUTTON} onClick={() => fileInput.current?.click()}>
            {t('add.drop.chooseFiles')}
          </button>
          <button type="button" className={BUTTON} onClick={() => folderInput.current?.click()}>
            {t('add.drop.chooseFolder')}
          </button>
        </div>
        <input
          ref={fileInput}
          data-testid="file-input"
          type="file"
          multiple
          hidden
          tabIndex={-1}
          aria-label={t('add.drop.chooseFiles')}
          onChange={(e) => {
            addFiles(filesFromInput(e.target.files))
            e.target.value = ''
          }}
        />
        <input
          ref={folderInput}
          data-testid="folder-input"
          type="file"
          multiple
          hidden
          tabIndex={-1}
          aria-label={t('add.drop.chooseFolder')}
          {...FOLDER_INPUT_PROPS}
          onChange={(e) => {
            addFiles(filesFromInput(e.target.files))
            e.target.value = ''
          }}
        />
      </div>

      {rows.length > 0 && (
        <section aria-labelledby="uploads-heading" className="mt-6">
          <div className="flex flex-wrap items-baseline gap-x-4 gap-y-1">
            <h2 id="uploads-heading" className="text-lg font-semibold text-stone-900 dark:text-stone-100">
              {t('add.uploads.heading')}
            </h2>
            <p className="text-sm text-stone-600 dark:text-stone-400" aria-live="polite" data-testid="upload-summary">
              {t('add.uploads.summary', { finished: counts.finished, total: counts.total })}
              {counts.failed > 0 && ` · ${t('add.uploads.failed', { count: counts.failed })}`}
            </p>
            {counts.finished > 0 && (
              <button
                type="button"
                onClick={clearFinished}
                className="ml-auto text-sm font-medium text-orange-800 underline underline-offset-2 dark:text-orange-300"
              >
                {t('add.uploads.clearFinished')}
              </button>
            )}
          </div>
          <ul
            aria-labelledby="uploads-heading"
            className="mt-2 divide-y divide-stone-200 rounded-lg border border-stone-200 bg-white dark:divide-stone-700 dark:border-stone-700 dark:bg-stone-900"
          >
            {rows.map((row) => (
              <UploadRowView key={row.id} row={row} onCancel={cancel} />
            ))}
          </ul>
        </section>
      )}

      <TypedItemForms />
    </div>
  )
}
