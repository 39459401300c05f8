// The accessible names acceptance checks rely on (docs/frontend.md), checked without a backend.
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from './App';
import { AuthProvider } from './auth';
import { Composer } from './components/Composer';
import { MessageView } from './components/MessageView';
import { DocumentsPage } from './pages/DocumentsPage';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

let container: HTMLDivElement;
async function render(node: React.ReactNode) {
  container = document.createElement('div');
  document.body.appendChild(container);
  const root = createRoot(container);
  await act(async () => root.render(node));
  return root;
}
afterEach(() => container.remove());

const labelled = (name: string) =>
  [...container.querySelectorAll('label')].find((l) => l.textContent === name)?.querySelector('input, textarea') ??
  container.querySelector(`[aria-label="${name}"]`);
const button = (name: string) =>
  [...container.querySelectorAll('button')].filter((b) => (b.getAttribute('aria-label') ?? b.textContent?.trim()) === name);

describe('accessible names', () => {
  it('sign-in page: Email, Password, Display name, Sign in, Sign up', async () => {
    localStorage.clear();
    await render(
      <AuthProvider>
        <App />
      </AuthProvider>,
    );
    expect(labelled('Email')?.getAttribute('type')).toBe('email');
    expect(labelled('Password')?.getAttribute('type')).toBe('password');
    expect(labelled('Display name')?.tagName).toBe('INPUT');
    expect(button('Sign in')).toHaveLength(1);
    expect(button('Sign up')).toHaveLength(1);
  });

  it('composer: textbox Message, Send, and Stop while streaming', async () => {
    const root = await render(<Composer streaming={false} canSend onSend={async () => undefined} onStop={() => undefined} />);
    expect(labelled('Message')?.tagName).toBe('TEXTAREA');
    expect(button('Send')).toHaveLength(1);
    await act(async () => root.render(<Composer streaming canSend={false} onSend={async () => undefined} onStop={() => undefined} />));
    expect(button('Stop')).toHaveLength(1);
    expect(button('Send')).toHaveLength(0);
    expect((labelled('Message') as HTMLTextAreaElement).disabled).toBe(true);
  });

  it('documents page: file input Upload document', async () => {
    await render(<DocumentsPage />);
    const input = labelled('Upload document') as HTMLInputElement;
    expect(input.type).toBe('file');
  });

  it('a message: Edit text, the textbox Edited text with Submit edit and Cancel; the group Versions with Previous version, Version 2 of 3, Next version', async () => {
    const message = { id: 'm2', conversation_id: 'c1', role: 'user' as const, content: 'Hi', status: 'completed' as const, created_at: '2026-01-01T00:00:00Z', siblings: ['m1', 'm2', 'm3'] };
    await render(<MessageView message={message} userName="Ada" onEdit={async () => undefined} onShowVersion={() => undefined} />);
    const versions = container.querySelector('[role="group"][aria-label="Versions"]')!;
    expect([...versions.querySelectorAll('button')].map((b) => b.getAttribute('aria-label'))).toEqual(['Previous version', 'Next version']);
    expect(versions.querySelector('[aria-label="Version 2 of 3"]')?.textContent).toBe('2 / 3');
    expect(button('Edit text')).toHaveLength(1);
    await act(async () => button('Edit text')[0].click());
    expect(labelled('Edited text')?.tagName).toBe('TEXTAREA');
    expect(button('Submit edit')).toHaveLength(1);
    expect(button('Cancel')).toHaveLength(1);
  });
});
