// The reader's PDF view: the kept original drawn by pdf.js, a page at a time, opened at the cited page
// with the cited passage marked. Loaded lazily (pdf.js is large); the bytes come a range at a time
// through the API client, so cookie and bearer sign-ins both work and a long PDF is not read whole.
import { useCallback, useEffect, useRef, useState } from 'react'
import type { KeyboardEvent } from 'react'
import { useTranslation } from 'react-i18next'
import * as pdfjs from 'pdfjs-dist'
import type { PDFDocumentProxy } from 'pdfjs-dist'
import type { TextItem } from 'pdfjs-dist/types/src/display/api'
import workerUrl from 'pdfjs-dist/build/pdf.worker.min.mjs?url'
import { ApiError } from '../../api/http'
import { readItemFileRange } from '../../api/originals'
import { ErrorNotice } from '../../components/ErrorNotice'
import { Spinner } from '../../components/Spinner'
import { DEFAULT_ZOOM, MAX_ZOOM, MIN_ZOOM, chooseStartPage, findPassageItems, stepZoom } from './pdfPages'

pdfjs.GlobalWorkerOptions.workerSrc = workerUrl

// The first read: enough for a small PDF whole, and for a large one its header and often its cross-reference.
const FIRST_READ_BYTES = 256 * 1024
const RANGE_CHUNK_BYTES = 128 * 1024

/** Feeds pdf.js the byte ranges it asks for, read through the API client. */
class ItemRangeTransport extends pdfjs.PDFDataRangeTransport {
  private readonly itemId: string
  private readonly aborter = new AbortController()

  constructor(itemId: string, size: number, initial: Uint8Array) {
    super(size, initial)
    this.itemId = itemId
  }

  override requestDataRange(begin: number, end: number): void {
    readItemFileRange(this.itemId, begin, end, this.aborter.signal).then(
      (range) => this.onDataRange(range.start, range.bytes),
      () => undefined, // the document load fails on its own when a range never comes
    )
  }

  override abort(): void {
    this.aborter.abort()
  }
}

interface Mark {
  left: number
  top: number
  width: number
  height: number
}

interface PdfViewProps {
  itemId: string
  title: string
  /** The page the link asked for, if any. */
  requestedPage?: number
  /** The cited chunk's page and text (its opening words are looked for on the page). */
  chunkPage?: number | null
  passage?: string
  /** Called when the item has no kept original (404): the reader falls back to the text view. */
  onUnavailable: () => void
}

export function PdfView({ itemId, title, requestedPage, chunkPage, passage, onUnavailable }: PdfViewProps) {
  const { t } = useTranslation()
  const [doc, setDoc] = useState<PDFDocumentProxy | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [attempt, setAttempt] = useState(0)
  const [pageNumber, setPageNumber] = useState(1)
  const [zoom, setZoom] = useState(DEFAULT_ZOOM)
  const [marks, setMarks] = useState<Mark[] | null>(null)
  const [rendering, setRendering] = useState(false)
  const canvasRef = useRef<HTMLCanvasElement>(null)
  const frameRef = useRef<HTMLDivElement>(null)
  const startPage = useRef({ requestedPage, chunkPage })

  useEffect(() => {
    let cancelled = false
    let loaded: PDFDocumentProxy | null = null
    let task: ReturnType<typeof pdfjs.getDocument> | null = null
    const aborter = new AbortController()
    setError(null)
    setDoc(null)
    ;(async () => {
      const first = await readItemFileRange(itemId, 0, FIRST_READ_BYTES, aborter.signal)
      const common = { isEvalSupported: false, enableXfa: false }
      task =
        first.bytes.length >= first.size
          ? pdfjs.getDocument({ ...common, data: first.bytes })
          : pdfjs.getDocument({
              ...common,
              range: new ItemRangeTransport(itemId, first.size, first.bytes),
              rangeChunkSize: RANGE_CHUNK_BYTES,
              disableAutoFetch: true,
              disableStream: true,
            })
      loaded = await task.promise
      if (cancelled) return
      const { requestedPage: asked, chunkPage: cited } = startPage.current
      setPageNumber(chooseStartPage({ requestedPage: asked, chunkPage: cited, pageCount: loaded.numPages }))
      setDoc(loaded)
    })().catch((caught: unknown) => {
      if (cancelled) return
      if (caught instanceof ApiError && caught.status === 404) onUnavailable()
      else setError(caught)
    })
    return () => {
      cancelled = true
      aborter.abort()
      void task?.destroy()
      void loaded?.destroy()
    }
  }, [itemId, attempt, onUnavailable])

  useEffect(() => {
    if (!doc || !canvasRef.current || !frameRef.current) return
    let cancelled = false
    let renderTask: ReturnType<Awaited<ReturnType<PDFDocumentProxy['getPage']>>['render']> | null = null
    const canvas = canvasRef.current
    const frame = frameRef.current
    setRendering(true)
    ;(async () => {
      const page = await doc.getPage(pageNumber)
      // Zoom 100 % fits the page to the column's width.
      const natural = page.getViewport({ scale: 1 })
      const fit = Math.max(0.25, (frame.clientWidth || natural.width) / natural.width)
      const viewport = page.getViewport({ scale: fit * zoom })
      const ratio = window.devicePixelRatio || 1
      canvas.width = Math.floor(viewport.width * ratio)
      canvas.height = Math.floor(viewport.height * ratio)
      canvas.style.width = `${Math.floor(viewport.width)}px`
      canvas.style.height = `${Math.floor(viewport.height)}px`
      renderTask = page.render({
        canvas,
        viewport,
        transform: ratio === 1 ? undefined : [ratio, 0, 0, ratio, 0, 0],
      })
      await renderTask.promise
      if (cancelled) return
      if (passage && pageNumber === chooseStartPage({ chunkPage, pageCount: doc.numPages })) {
        const content = await page.getTextContent()
        const items = content.items.filter((item): item is TextItem => 'str' in item)
        const found = findPassageItems(
          items.map((item) => item.str),
          passage,
        )
        if (cancelled) return
        setMarks(
          found.flatMap((index) => {
            const item = items[index]
            if (!item) return []
            const tx = pdfjs.Util.transform(viewport.transform, item.transform)
            const height = Math.hypot(tx[2], tx[3])
            return [{ left: tx[4], top: tx[5] - height, width: item.width * viewport.scale, height: height * 1.15 }]
          }),
        )
      } else {
        setMarks(null)
      }
    })()
      .catch((caught: unknown) => {
        if (!cancelled && !(caught instanceof Error && caught.name === 'RenderingCancelledException')) setError(caught)
      })
      .finally(() => {
        if (!cancelled) setRendering(false)
      })
    return () => {
      cancelled = true
      renderTask?.cancel()
    }
  }, [doc, pageNumber, zoom, passage, chunkPage])

  const go = useCallback(
    (page: number) => {
      if (doc) setPageNumber(Math.min(Math.max(1, page), doc.numPages))
    },
    [doc],
  )

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.target instanceof HTMLInputElement) return
    if (event.key === 'ArrowLeft' || event.key === 'PageUp') go(pageNumber - 1)
    else if (event.key === 'ArrowRight' || event.key === 'PageDown') go(pageNumber + 1)
    else if (event.key === '+' || event.key === '=') setZoom((z) => stepZoom(z, 1))
    else if (event.key === '-') setZoom((z) => stepZoom(z, -1))
    else return
    event.preventDefault()
  }

  if (error) return <ErrorNotice error={error} onRetry={() => setAttempt((n) => n + 1)} />

  const pageCount = doc?.numPages ?? 0
  const button =
    'rounded-md border border-stone-300 px-3 py-1.5 text-sm font-medium text-stone-800 hover:bg-stone-100 disabled:cursor-not-allowed disabled:border-stone-200 disabled:text-stone-500 dark:border-stone-600 dark:text-stone-200 dark:hover:bg-stone-800 dark:disabled:border-stone-800 dark:disabled:text-stone-400'
  const onCitedPage = doc !== null && pageNumber === chooseStartPage({ chunkPage, pageCount })

  return (
    <div data-testid="pdf-view" className="space-y-3" onKeyDown={onKeyDown}>
      <div
        role="toolbar"
        aria-label={t('reader.pdf.toolbar')}
        className="flex flex-wrap items-center justify-between gap-2"
      >
        <div className="flex items-center gap-2">
          <button
            type="button"
            className={button}
            onClick={() => go(pageNumber - 1)}
            disabled={!doc || pageNumber <= 1}
            data-testid="pdf-prev"
          >
            ← {t('reader.pdf.previousPage')}
          </button>
          <label className="flex items-center gap-1 text-sm text-stone-700 dark:text-stone-300">
            <span className="sr-only">{t('reader.pdf.pageNumber')}</span>
            <input
              type="number"
              min={1}
              max={pageCount || 1}
              value={pageNumber}
              onChange={(event) => go(Number(event.target.value))}
              disabled={!doc}
              data-testid="pdf-page"
              className="w-16 rounded-md border border-stone-300 bg-white px-2 py-1 text-center tabular-nums text-stone-900 dark:border-stone-600 dark:bg-stone-900 dark:text-stone-100"
            />
            <span className="tabular-nums">{t('reader.pdf.ofPages', { count: pageCount })}</span>
          </label>
          <button
            type="button"
            className={button}
            onClick={() => go(pageNumber + 1)}
            disabled={!doc || pageNumber >= pageCount}
            data-testid="pdf-next"
          >
            {t('reader.pdf.nextPage')} →
          </button>
        </div>
        <div className="flex items-center gap-2">
          <button
            type="button"
            className={button}
            onClick={() => setZoom((z) => stepZoom(z, -1))}
            disabled={zoom <= MIN_ZOOM}
            aria-label={t('reader.pdf.zoomOut')}
            data-testid="pdf-zoom-out"
          >
            −
          </button>
          <span className="w-14 text-center text-sm tabular-nums text-stone-700 dark:text-stone-300" aria-live="polite">
            {t('reader.pdf.zoom', { percent: Math.round(zoom * 100) })}
          </span>
          <button
            type="button"
            className={button}
            onClick={() => setZoom((z) => stepZoom(z, 1))}
            disabled={zoom >= MAX_ZOOM}
            aria-label={t('reader.pdf.zoomIn')}
            data-testid="pdf-zoom-in"
          >
            +
          </button>
        </div>
      </div>

      <div
        ref={frameRef}
        tabIndex={0}
        aria-label={t('reader.pdf.pageLabel', { title, page: pageNumber, count: pageCount })}
        className="relative overflow-auto rounded-lg bg-stone-200 p-0 ring-1 ring-stone-300 dark:bg-stone-800 dark:ring-stone-700"
      >
        {!doc && (
          <div className="p-6">
            <Spinner label={t('reader.pdf.loading')} />
          </div>
        )}
        <div className={`relative mx-auto w-fit ${doc ? '' : 'hidden'} ${rendering ? 'opacity-70' : ''}`}>
          <canvas ref={canvasRef} role="img" aria-label={t('reader.pdf.page', { page: pageNumber })} className="block bg-white" />
          {onCitedPage &&
            marks?.map((mark, i) => (
              <span
                key={i}
                aria-hidden="true"
                data-testid="pdf-mark"
                className="pointer-events-none absolute rounded-sm bg-amber-300/45 mix-blend-multiply"
                style={{ left: mark.left, top: mark.top, width: mark.width, height: mark.height }}
              />
            ))}
        </div>
      </div>

      {passage && doc && (
        <aside
          aria-label={t('reader.cited')}
          className="rounded-md border-l-4 border-amber-500 bg-amber-50 p-3 text-sm text-stone-800 dark:bg-stone-900 dark:text-stone-200"
        >
          <p className="mb-1 font-medium text-amber-900 dark:text-amber-200">
            {t('reader.pdf.citedOn', { page: chooseStartPage({ chunkPage, pageCount }) })}
            {onCitedPage && marks !== null && marks.length === 0 ? ` ${t('reader.pdf.notMarked')}` : ''}
          </p>
          <p className="line-clamp-6 font-serif">{passage}</p>
        </aside>
      )}
    </div>
  )
}
