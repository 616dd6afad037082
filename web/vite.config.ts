/// <reference types="vitest/config" />
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'
import tailwindcss from '@tailwindcss/vite'

// The build goes into the Python package, which serves it at / (src/tomehub/webapp).
export default defineConfig({
  plugins: [react(), tailwindcss()],
  build: {
    outDir: '../src/tomehub/webapp/dist',
    emptyOutDir: true,
    sourcemap: false,
  },
  server: {
    // `npm run dev` against a running `tomehub serve` on :8000.
    proxy: { '/api': 'http://127.0.0.1:8000', '/metrics': 'http://127.0.0.1:8000' },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test-setup.ts'],
    css: false,
    globals: true,
  },
})
