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
  })
})
