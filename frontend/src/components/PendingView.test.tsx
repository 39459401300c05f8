import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, describe, expect, it } from 'vitest';
import { PendingView } from './MessageView';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

describe('PendingView', () => {
  let root: Root | undefined;
  afterEach(() => {
    act(() => root?.unmount());
    document.body.innerHTML = '';
  });

  const render = async (element: React.ReactElement) => {
    const container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
    await act(async () => root!.render(element));
    return container;
  };

  it('tells a reply waiting for a busy model its place in line, as a status', async () => {
    const container = await render(<PendingView text="" state="queued" position={2} />);
    const status = container.querySelector('[role="status"]');
    expect(status?.textContent).toBe('Waiting for the model — position 2 in queue');
  });

  it('moves up with the line and gives way to the streamed text once generating', async () => {
    const container = await render(<PendingView text="" state="queued" position={1} />);
    expect(container.querySelector('[role="status"]')?.textContent).toBe('Waiting for the model — position 1 in queue');
    await act(async () => root!.render(<PendingView text="Paris is the capital." state="generating" />));
    expect(container.textContent).toContain('Paris is the capital.');
    expect(container.textContent).not.toContain('position');
    expect(container.querySelector('[role="status"]')?.textContent).toBe('Alice is writing…');
  });

  it('says it waits, without a position, before the orchestrator has placed it', async () => {
    const container = await render(<PendingView text="" state="queued" />);
    expect(container.querySelector('[role="status"]')?.textContent).toBe('Waiting for Alice…');
  });
});
