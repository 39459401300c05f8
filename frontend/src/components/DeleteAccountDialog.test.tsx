import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/errors';
import { DeleteAccountDialog } from './DeleteAccountDialog';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

describe('DeleteAccountDialog', () => {
  let root: Root | undefined;
  afterEach(() => {
    act(() => root?.unmount());
    document.body.innerHTML = '';
  });

  const render = async (onDelete: (password: string) => Promise<void>) => {
    const container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
    await act(async () => root!.render(<DeleteAccountDialog onDelete={onDelete} onCancel={() => undefined} />));
    return container;
  };

  const typePassword = async (container: HTMLElement, value: string) => {
    const input = container.querySelector<HTMLInputElement>('input[type="password"]')!;
    const setValue = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!;
    await act(async () => {
      setValue.call(input, value);
      input.dispatchEvent(new Event('input', { bubbles: true }));
    });
  };

  const submit = async (container: HTMLElement) => {
    await act(async () => container.querySelector('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true })));
  };

  it('says what goes and that it cannot be undone, and needs the password', async () => {
    const container = await render(async () => undefined);
    expect(container.textContent).toContain('documents');
    expect(container.textContent).toContain('cannot be undone');
    const confirm = [...container.querySelectorAll('button')].find((b) => b.textContent === 'Delete everything')!;
    expect(confirm.disabled).toBe(true);
    await typePassword(container, 'secret');
    expect(confirm.disabled).toBe(false);
  });

  it('shows a wrong password and lets the user try again', async () => {
    const onDelete = vi.fn(async () => {
      throw new ApiError(403, 'wrong_password', 'wrong password');
    });
    const container = await render(onDelete);
    await typePassword(container, 'not it');
    await submit(container);
    expect(onDelete).toHaveBeenCalledWith('not it');
    expect(container.querySelector('[role="alert"]')?.textContent).toBe('wrong password');
    const confirm = [...container.querySelectorAll('button')].find((b) => b.textContent === 'Delete everything')!;
    expect(confirm.disabled).toBe(false);
  });
});
