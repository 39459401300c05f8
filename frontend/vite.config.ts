import type { ProxyOptions } from 'vite';
import { defineConfig } from 'vitest/config';

// @vitejs/plugin-react needs a newer Vite than the one that installs here; esbuild's automatic
// JSX runtime is all this app needs (no Fast Refresh, a full reload on edits instead).
const backend = process.env.ALICE_BACKEND_URL || 'http://127.0.0.1:8000';

const toBackend: ProxyOptions = {
  target: backend,
  // SSE: tell any proxy after us not to buffer or transform the reply stream.
  configure: (proxy) => {
    // The client is whoever connected here: overwrite what the request claims (the backend
    // ignores the header anyway unless FORWARDED_ALLOW_IPS names this proxy).
    proxy.on('proxyReq', (proxyReq, req) => {
      proxyReq.setHeader('x-forwarded-for', req.socket.remoteAddress ?? '');
    });
    proxy.on('proxyRes', (proxyRes) => {
      if ((proxyRes.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        proxyRes.headers['cache-control'] = 'no-cache, no-transform';
        proxyRes.headers['x-accel-buffering'] = 'no';
      }
    });
  },
};

// The same headers as frontend/nginx.conf (tests/deploy keeps them equal): images only from this
// site or inline, so a reply cannot make the browser fetch a URL it chose; no framing; no sniffing.
export const securityHeaders: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; " +
    "frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

// `/v1`: the OpenAI-compatible API, so SDKs and chat UIs can use the app's own address.
const apiProxy: Record<string, ProxyOptions> = { '/api': toBackend, '/v1': toBackend };

export default defineConfig({
  esbuild: { jsx: 'automatic' },
  server: { host: '127.0.0.1', port: 3000, strictPort: true, proxy: apiProxy, headers: securityHeaders },
  preview: { host: '127.0.0.1', port: 3000, strictPort: true, proxy: apiProxy, headers: securityHeaders },
  build: { target: 'es2022', sourcemap: false, chunkSizeWarningLimit: 500 },
  test: { environment: 'jsdom', include: ['src/**/*.test.{ts,tsx}'] },
});
