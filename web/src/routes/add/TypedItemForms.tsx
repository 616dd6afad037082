// Typed items on the Add page: a note, a highlight (with its page and its source from the library),
// an insight. Each is one POST /api/add-item; the new item is linked once it is saved.
import { useId, useState, type FormEvent, type ReactNode } from 'react'
import { Link } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'
import { useAddItem, type AddItemBody, type AddedItem, type TypedItemType } from '../../api/ingest'
import type { Item } from '../../api/library'
import { BusyNotice } from '../../components/BusyNotice'
import { ErrorNotice } from '../../components/ErrorNotice'
import { ItemPicker } from '../../components/ItemPicker'

export function parseTags(text: string): string[] {
  return [...new Set(text.split(',').map((tag) => tag.trim()).filter(Boolean))]
}

const INPUT =
  'w-full rounded-md border border-stone-300 bg-white px-3 py-2 text-sm text-stone-900 placeholder:text-stone-500 dark:border-stone-600 dark:bg-stone-900 dark:text-stone-100 dark:placeholder:text-stone-400'
const LABEL = 'mb-1 block text-sm font-medium text-stone-800 dark:text-stone-200'

function Field({ label, hint, children, id }: { label: string; hint?: string; children: ReactNode; id: string }) {
  return (
    <div>
      <label htmlFor={id} className={LABEL}>
        {label}
      </label>
      {children}
      {hint && (
        <p id={`${id}-hint`} className="mt-1 text-xs text-stone-600 dark:text-stone-400">
          {hint}
        </p>
      )}
    </div>
  )
}

/** A form card that saves one typed item, says it did, and links to it. */
function TypedItemForm({
  kind,
  testId,
  heading,
  submitLabel,
  build,
  onSaved,
  children,
}: {
  kind: TypedItemType
  testId: string
  heading: string
  submitLabel: string
  /** The request body, or null when the form is not ready to send. */
  build: () => Omit<AddItemBody, 'item_type'> | null
  onSaved: () => void
  children: ReactNode
}) {
  const { t } = useTranslation()
  const headingId = useId()
  const [busyUntil, setBusyUntil] = useState<number | null>(null)
  const [saved, setSaved] = useState<AddedItem | null>(null)
  const mutation = useAddItem({ onWait: (seconds) => setBusyUntil(Date.now() + seconds * 1000) })

  const submit = (event: FormEvent) => {
    event.preventDefault()
    const body = build()
    if (!body) return
    setSaved(null)
    mutation.mutate(
      { item_type: kind, ...body },
      {
        onSuccess: (item) => {
          setSaved(item)
          onSaved()
        },
        onSettled: () => setBusyUntil(null),
      },
    )
  }

  return (
    <form
      data-testid={testId}
      aria-labelledby={headingId}
      onSubmit={submit}
      className="flex flex-col gap-3 rounded-lg border border-stone-200 bg-white p-4 dark:border-stone-700 dark:bg-stone-900"
    >
      <h3 id={headingId} className="text-base font-semibold text-stone-900 dark:text-stone-100">
        {heading}
      </h3>
      {children}
      <div className="mt-auto flex flex-col gap-2 pt-1">
        <button
          type="submit"
          disabled={mutation.isPending}
          className="self-start rounded-md bg-orange-700 px-4 py-2 text-sm font-semibold text-white hover:bg-orange-800 disabled:opacity-60 dark:bg-orange-700 dark:hover:bg-orange-600"
        >
          {mutation.isPending ? t('add.forms.saving') : submitLabel}
        </button>
        {mutation.isPending && busyUntil && <BusyNotice until={busyUntil} testId={`${testId}-busy`} />}
        {mutation.isError && <ErrorNotice error={mutation.error} />}
        {saved && (
          <p role="status" className="text-sm text-green-800 dark:text-green-300">
            {t('add.forms.added', { title: saved.title })}{' '}
            <Link
              to="/library/$itemId"
              params={{ itemId: saved.id }}
              className="font-medium text-orange-800 underline underline-offset-2 dark:text-orange-300"
            >
              {t('add.forms.openAdded')}
            </Link>
          </p>
        )}
      </div>
    </form>
  )
}

function NoteForm() {
  const { t } = useTranslation()
  const id = useId()
  const [title, setTitle] = useState('')
  const [text, setText] = useState('')
  const [tags, setTags] = useState('')
  return (
    <TypedItemForm
      kind="PERSONAL_NOTE"
      testId="note-form"
      heading={t('add.note.heading')}
      submitLabel={t('add.note.submit')}
      build={() =>
        text.trim() ? { text, title: title.trim() || undefined, tags: parseTags(tags) } : null
      }
      onSaved={() => {
        setTitle('')
        setText('')
        setTags('')
      }}
    >
      <Field id={`${id}-title`} label={t('add.forms.titleOptional')}>
        <input id={`${id}-title`} value={title} onChange={(e) => setTitle(e.target.value)} maxLength={500} className={INPUT} />
      </Field>
      <Field id={`${id}-text`} label={t('add.note.text')}>
        <textarea id={`${id}-text`} required rows={5} value={text} onChange={(e) => setText(e.target.value)} className={INPUT} />
      </Field>
      <Field id={`${id}-tags`} label={t('add.forms.tags')} hint={t('add.forms.tagsHint')}>
        <input
          id={`${id}-tags`}
          aria-describedby={`${id}-tags-hint`}
          value={tags}
          onChange={(e) => setTags(e.target.value)}
          className={INPUT}
        />
      </Field>
    </TypedItemForm>
  )
}

function HighlightForm() {
  const { t } = useTranslation()
  const id = useId()
  const [text, setText] = useState('')
  const [page, setPage] = useState('')
  const [source, setSource] = useState<Item | null>(null)
  const pageNumber = page.trim() === '' ? undefined : Number(page)
  return (
    <TypedItemForm
      kind="HIGHLIGHT"
      testId="highlight-form"
      heading={t('add.highlight.heading')}
      submitLabel={t('add.highlight.submit')}
      build={() =>
        text.trim()
          ? {
              text,
              page: pageNumber !== undefined && Number.isInteger(pageNumber) && pageNumber > 0 ? pageNumber : undefined,
              // The highlight is filed under its source's title and author.
              title: source?.title,
              author: source?.author ?? undefined,
            }
          : null
      }
      onSaved={() => {
        setText('')
        setPage('')
      }}
    >
      <Field id={`${id}-text`} label={t('add.highlight.text')}>
        <textarea id={`${id}-text`} required rows={5} value={text} onChange={(e) => setText(e.target.value)} className={INPUT} />
      </Field>
      <Field id={`${id}-page`} label={t('add.highlight.page')}>
        <input
          id={`${id}-page`}
          type="number"
          inputMode="numeric"
          min={1}
          max={100000}
          value={page}
          onChange={(e) => setPage(e.target.value)}
          className={`${INPUT} max-w-32`}
        />
      </Field>
      {source ? (
        <div>
          <p className={LABEL}>{t('add.highlight.source')}</p>
          <div className="flex flex-wrap items-center gap-2 rounded-md border border-stone-300 px-3 py-2 text-sm dark:border-stone-600">
            <span className="min-w-0 flex-1 text-stone-900 dark:text-stone-100" data-testid="highlight-source">
              <span className="font-medium">{source.title}</span>
              {source.author && <span className="text-stone-600 dark:text-stone-400"> — {source.author}</span>}
            </span>
            <button
              type="button"
              onClick={() => setSource(null)}
              className="text-sm font-medium text-orange-800 underline underline-offset-2 dark:text-orange-300"
            >
              {t('add.highlight.changeSource')}
            </button>
          </div>
        </div>
      ) : (
        <ItemPicker
          label={t('add.highlight.source')}
          placeholder={t('add.highlight.sourcePlaceholder')}
          onPick={setSource}
          testId="highlight-source-input"
        />
      )}
    </TypedItemForm>
  )
}

function InsightForm() {
  const { t } = useTranslation()
  const id = useId()
  const [title, setTitle] = useState('')
  const [text, setText] = useState('')
  const [tags, setTags] = useState('')
  return (
    <TypedItemForm
      kind="INSIGHT"
      testId="insight-form"
      heading={t('add.insight.heading')}
      submitLabel={t('add.insight.submit')}
      build={() => (text.trim() ? { text, title: title.trim() || undefined, tags: parseTags(tags) } : null)}
      onSaved={() => {
        setTitle('')
        setText('')
        setTags('')
      }}
    >
      <Field id={`${id}-title`} label={t('add.forms.titleOptional')}>
        <input id={`${id}-title`} value={title} onChange={(e) => setTitle(e.target.value)} maxLength={500} className={INPUT} />
      </Field>
      <Field id={`${id}-text`} label={t('add.insight.text')}>
        <textarea id={`${id}-text`} required rows={5} value={text} onChange={(e) => setText(e.target.value)} className={INPUT} />
      </Field>
      <Field id={`${id}-tags`} label={t('add.forms.tags')} hint={t('add.forms.tagsHint')}>
        <input
          id={`${id}-tags`}
          aria-describedby={`${id}-tags-hint`}
          value={tags}
          onChange={(e) => setTags(e.target.value)}
          className={INPUT}
        />
      </Field>
    </TypedItemForm>
  )
}

export function TypedItemForms() {
  const { t } = useTranslation()
  return (
    <section aria-labelledby="add-typed-heading" className="mt-10">
      <h2 id="add-typed-heading" className="text-lg font-semibold text-stone-900 dark:text-stone-100">
        {t('add.forms.heading')}
      </h2>
      <p className="mt-1 text-sm text-stone-600 dark:text-stone-400">{t('add.forms.intro')}</p>
      <div className="mt-4 grid gap-4 lg:grid-cols-3">
        <NoteForm />
        <HighlightForm />
        <InsightForm />
      </div>
    </section>
  )
}
