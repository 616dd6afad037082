import i18n from '../../i18n'
import en from '../../i18n/en.json'
import tr from '../../i18n/tr.json'
import { FILE_ERROR_CODES, fileErrorKey, fileErrorMessage } from './fileErrors'

describe('file error codes in plain words', () => {
  afterEach(async () => {
    await i18n.changeLanguage('en')
  })

  it('says what each known code means', async () => {
    await i18n.changeLanguage('en')
    const t = i18n.t.bind(i18n)
    expect(fileErrorMessage(t, { code: 'encrypted_document', message: 'x' })).toBe('The PDF is encrypted (password protected)')
    expect(fileErrorMessage(t, { code: 'corrupt_document', message: 'x' })).toBe('The file is damaged or unreadable')
    expect(fileErrorMessage(t, { code: 'empty_document', message: 'x' })).toBe('No readable text was found')
    expect(fileErrorMessage(t, { code: 'document_too_large', message: 'x' })).toBe('The document is too large')
    expect(fileErrorMessage(t, { code: 'unsupported_type', message: 'x' })).toBe('This file type is not supported')
    expect(fileErrorMessage(t, { code: 'payload_too_large', message: 'x' })).toBe('The file is over the upload limit')
  })

  it('says what went wrong with the parser, the worker and the embeddings', async () => {
    await i18n.changeLanguage('en')
    const t = i18n.t.bind(i18n)
    const say = (code: string) => fileErrorMessage(t, { code, message: 'server words' })
    expect(say('parser_crashed')).toBe('The document reader crashed on this file')
    expect(say('parser_timeout')).toBe('Reading this file took too long, so it was stopped')
    expect(say('parser_out_of_memory')).toBe('Reading this file needed too much memory, so it was stopped')
    expect(say('poison_file')).toBe('This file stopped the import every time it was tried, so it will not be tried again')
    expect(say('embedding_failed')).toMatch(/^The text was saved/)
    expect(say('item_deleted')).toBe('Cancelled: its item was deleted')
  })

  it('has words for every code a run\'s file can carry (tomehub/errors.py, ingest/service.py, ingest/archive.py)', () => {
    const serverCodes = [
      'document_error', 'encrypted_document', 'corrupt_document', 'empty_document', 'document_too_large',
      'unsupported_type', 'payload_too_large', 'parser_failed', 'parser_crashed', 'parser_timeout',
      'parser_out_of_memory', 'poison_file', 'processing_failed', 'embedding_failed', 'unsafe_archive_entry',
      'item_deleted',
    ]
    for (const code of serverCodes) expect(fileErrorKey(code), code).not.toBeNull()
  })

  it('keeps the server message for bad_input, which says what in particular was wrong', () => {
    expect(fileErrorMessage(i18n.t.bind(i18n), { code: 'bad_input', message: 'books.zip holds no files.' })).toBe(
      'books.zip holds no files.',
    )
  })

  it('keeps the server message for a code it has no words for', () => {
    expect(fileErrorKey('disk_on_fire')).toBeNull()
    expect(fileErrorMessage(i18n.t.bind(i18n), { code: 'disk_on_fire', message: 'The disk is on fire.' })).toBe(
      'The disk is on fire.',
    )
  })

  it('has every code in both catalogs', () => {
    const catalogs = [en.common, tr.common] as { fileError?: Record<string, string> }[]
    for (const common of catalogs) {
      for (const code of FILE_ERROR_CODES) expect(common.fileError?.[code]).toBeTruthy()
    }
  })

  it('speaks Turkish in Turkish', async () => {
    await i18n.changeLanguage('tr')
    expect(fileErrorMessage(i18n.t.bind(i18n), { code: 'encrypted_document', message: 'x' })).toBe('PDF şifreli (parola korumalı)')
    expect(fileErrorMessage(i18n.t.bind(i18n), { code: 'parser_timeout', message: 'x' })).toBe(
      'Bu dosyayı okumak çok uzun sürdü, bu yüzden durduruldu',
    )
    expect(fileErrorMessage(i18n.t.bind(i18n), { code: 'item_deleted', message: 'x' })).toBe('İptal edildi: öğesi silindi')
  })
})
