import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { afterEach, describe, expect, it } from 'vitest';
import type { FeedbackStats } from '../api/types';
import { AdminFeedback } from './AdminFeedback';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

async function render(stats: FeedbackStats) {
  const container = document.createElement('div');
  document.body.appendChild(container);
  await act(async () => createRoot(container).render(<AdminFeedback stats={stats} />));
  return container;
}

describe('AdminFeedback', () => {
  afterEach(() => (document.body.innerHTML = ''));

  it('shows the share of up ratings per model and the latest comments', async () => {
    const container = await render({
      models: [
        { model: 'smollm2', up: 2, down: 1, up_share: 2 / 3 },
        { model: 'big', up: 0, down: 1, up_share: 0 },
      ],
      latest_comments: [{ model: 'big', rating: 'down', comment: 'Wrong year', updated_at: '2026-01-02T00:00:00.000Z' }],
    });
    const rows = [...container.querySelectorAll('tbody tr')].map((tr) => [...tr.children].map((c) => c.textContent?.trim()));
    expect(rows).toEqual([
      ['smollm2', '2', '1', '67%'],
      ['big', '0', '1', '0%'],
    ]);
    const comments = container.querySelector('ul[aria-label="Latest comments"]');
    expect(comments?.textContent).toContain('Wrong year');
    expect(comments?.textContent).toContain('Down');
  });

  it('says when nothing was rated or commented yet', async () => {
    const container = await render({ models: [], latest_comments: [] });
    expect(container.textContent).toContain('No reply has been rated yet.');
    expect(container.textContent).toContain('No comments yet.');
  });
});
