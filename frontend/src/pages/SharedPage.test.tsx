import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { App } from '../App';
import { AuthProvider } from '../auth';
import { jsonResponse, scriptedFetch } from '../api/testing';
import { SharedPage } from './SharedPage';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const TOKEN = 'a'.repeat(43);

describe('SharedPage', () => {
  let root: Root | undefined;
  afterEach(() => {
    act(() => root?.unmount());
    document.body.innerHTML = '';
    vi.unstubAllGlobals();
  });

  const render = async (answer: Response, node: React.ReactNode = <SharedPage token={TOKEN} />) => {
    const scripted = scriptedFetch([answer]);
    vi.stubGlobal('fetch', scripted.fetch);
    const container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
    await act(async () => root!.render(node));
    return { container, calls: scripted.calls };
  };

  it('shows the snapshot read-only, naming no one, and asks without a session', async () => {
    const { container, calls } = await render(
      jsonResponse({
        title: 'Trip to Rome',
        shared_at: '2026-12-06T10:00:00.000Z',
        messages: [
          { role: 'user', content: 'Where to eat?', created_at: '2026-12-06T09:00:00.000Z' },
          { role: 'assistant', content: 'Try **Trastevere**.', created_at: '2026-12-06T09:00:01.000Z' },
        ],
      }),
    );
    expect(calls.map((c) => c.url)).toEqual([`/api/shared/${TOKEN}`]);
    expect(calls[0].headers.Authorization).toBeUndefined();
    expect(container.querySelector('h1')?.textContent).toBe('Trip to Rome');
    const said = [...container.querySelectorAll('article')].map((a) => a.getAttribute('aria-label'));
    expect(said).toEqual(['User said', 'Alice said']);
    expect(container.querySelector('article.from-assistant strong')?.textContent).toBe('Trastevere');
    expect(container.querySelector('textarea, form')).toBeNull();
  });

  it('says the link was revoked or does not exist when the backend answers 404', async () => {
    const { container } = await render(
      jsonResponse({ error: { code: 'share_not_found', message: 'this link was revoked or does not exist' } }, 404),
    );
    expect(container.querySelector('[role="alert"] h2')?.textContent).toBe('This link was revoked or does not exist');
    expect(container.querySelector('article')).toBeNull();
  });

  it('tells any other failure as it is, not as a revoked link', async () => {
    const { container } = await render(jsonResponse({ error: { code: 'rate_limited', message: 'too many requests, retry later' } }, 429));
    expect(container.querySelector('[role="alert"]')?.textContent).toBe('too many requests, retry later');
  });

  it('opens from its address while signed out, instead of the sign-in page', async () => {
    localStorage.clear();
    history.replaceState(null, '', `/s/${TOKEN}`);
    const app = (
      <AuthProvider>
        <App />
      </AuthProvider>
    );
    const { container } = await render(jsonResponse({ title: 'Open to all', shared_at: '2026-12-06T10:00:00.000Z', messages: [] }), app);
    expect(location.pathname).toBe(`/s/${TOKEN}`);
    expect(container.querySelector('h1')?.textContent).toBe('Open to all');
    expect(container.querySelector('input[type="password"]')).toBeNull();
    history.replaceState(null, '', '/');
  });
});
