import type { ProxyOptions } from 'vite';
import { defineConfig } from 'vitest/config';

// @vitejs/plugin-react needs a newer Vite than the one that installs here; esbuild's automatic
// JSX runtime is all this app needs (no Fast Refresh, a full reload on edits instead).
const backend = process.env.ALICE_BACKEND_URL || 'http://127.0.0.1:8000';

const toBackend: ProxyOptions = {
  target: backend,
  // SSE: tell any proxy after us not to buffer or transform the reply stream.
  configure: (proxy) => {
    proxy.on('proxyRes', (proxyRes) => {
      if ((proxyRes.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        proxyRes.headers['cache-control'] = 'no-cache, no-transform';
        proxyRes.headers['x-accel-buffering'] = 'no';
      }
    });
  },
};

// `/v1`: the OpenAI-compatible API, so SDKs and chat UIs can use the app's own address.
const apiProxy: Record<string, ProxyOptions> = { '/api': toBackend, '/v1': toBackend };

export default defineConfig({
  esbuild: { jsx: 'automatic' },
  server: { host: '127.0.0.1', port: 3000, strictPort: true, proxy: apiProxy },
  preview: { host: '127.0.0.1', port: 3000, strictPort: true, proxy: apiProxy },
  build: { target: 'es2022', sourcemap: false, chunkSizeWarningLimit: 500 },
  test: { environment: 'jsdom', include: ['src/**/*.test.{ts,tsx}'] },
});
