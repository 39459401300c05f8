import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { api } from '../api/client';
import type { AuthConfig } from '../api/types';
import { AuthPage } from './AuthPage';

vi.mock('../auth', () => ({ useAuth: () => ({ signIn: vi.fn(), signUp: vi.fn() }) }));

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

describe('AuthPage', () => {
  let root: Root | undefined;
  afterEach(() => {
    act(() => root?.unmount());
    document.body.innerHTML = '';
    vi.restoreAllMocks();
  });

  const render = async (config: AuthConfig) => {
    vi.spyOn(api, 'authConfig').mockResolvedValue(config);
    const container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
    await act(async () => root!.render(<AuthPage />));
    return container;
  };
  const buttons = (container: HTMLElement) => [...container.querySelectorAll('button')].map((b) => b.textContent);

  it('offers single sign-on by the provider\'s name when the backend has it', async () => {
    const container = await render({ password_login: true, password_signup: true, sso: { name: 'Keycloak' } });
    const link = [...container.querySelectorAll('a')].find((a) => a.textContent === 'Sign in with Keycloak');
    expect(link?.getAttribute('href')).toBe('/api/auth/oidc/login');
    expect(buttons(container)).toEqual(['Sign in', 'Sign up']);
  });

  it('shows no single sign-on without it', async () => {
    const container = await render({ password_login: true, password_signup: true, sso: null });
    expect(container.textContent).not.toContain('Sign in with');
    expect(buttons(container)).toEqual(['Sign in', 'Sign up']);
  });

  it('leaves out what the site closed', async () => {
    const container = await render({ password_login: true, password_signup: false, sso: { name: 'SSO' } });
    expect(buttons(container)).toEqual(['Sign in']);
    const ssoOnly = await (async () => {
      act(() => root?.unmount());
      document.body.innerHTML = '';
      return render({ password_login: false, password_signup: false, sso: { name: 'SSO' } });
    })();
    expect(buttons(ssoOnly)).toEqual([]);
    expect(ssoOnly.querySelector('input[type="password"]')).toBeNull();
    expect(ssoOnly.textContent).toContain('Sign in with SSO');
  });
});
