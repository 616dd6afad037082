import '@testing-library/dom'
import './i18n'
