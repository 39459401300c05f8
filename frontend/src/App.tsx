import { lazy, Suspense, useEffect, useState } from 'react';
import { useAuth } from './auth';
import { MenuIcon } from './components/icons';
import { ShortcutsDialog } from './components/ShortcutsDialog';
import { Sidebar } from './components/Sidebar';
import { navigate, useLocation } from './lib/router';
import { sharedTokenOf } from './lib/sharedLink';
import { keyLabel, useShortcuts } from './lib/shortcuts';
import { useTheme } from './lib/theme';
import { AuthPage } from './pages/AuthPage';
import { ChatPage } from './pages/ChatPage';
import { DocumentsPage } from './pages/DocumentsPage';
import { SettingsPage } from './pages/SettingsPage';
import { SharedPage } from './pages/SharedPage';
import { TransferPage } from './pages/TransferPage';

// The admin view (SVG pipeline + charts) is only for operators: keep it out of the first load.
const AdminPage = lazy(() => import('./pages/AdminPage'));

export function App() {
  const { state, signOut, updateSettings } = useAuth();
  const { path, query } = useLocation();
  const signedIn = state.status === 'signed-in';
  const [theme, toggleTheme] = useTheme(signedIn ? state.user.settings.theme : undefined, (next) => {
    if (signedIn) void updateSettings({ theme: next }).catch(() => undefined);
  });
  const [menuOpen, setMenuOpen] = useState(false);
  const [showShortcuts, setShowShortcuts] = useState(false);

  // A shared link (`/s/:token`) is for anyone, signed in or not.
  const sharedToken = sharedTokenOf(path);

  useEffect(() => {
    if (state.status === 'signed-out' && path !== '/' && sharedToken === undefined) navigate('/', true);
  }, [state.status, path, sharedToken]);

  // Escape closes the phone drawer.
  useEffect(() => {
    if (!menuOpen) return;
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && setMenuOpen(false);
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [menuOpen]);

  useShortcuts(
    state.status === 'signed-in' && sharedToken === undefined
      ? {
          newChat: () => {
            setMenuOpen(false);
            navigate('/');
            focusLater('textarea[aria-label="Message"]');
          },
          focusSearch: () => {
            // On a phone the search field is in the drawer: open it first.
            if (!visible('input[type="search"]')) setMenuOpen(true);
            focusLater('input[type="search"]');
          },
          focusMessage: () => focusLater('textarea[aria-label="Message"]'),
          help: () => setShowShortcuts(true),
        }
      : {},
  );

  if (sharedToken !== undefined) return <SharedPage token={sharedToken} />;
  if (state.status === 'loading') {
    return (
      <div className="splash" role="status">
        <span className="brand-mark" aria-hidden="true">A</span> Loading…
      </div>
    );
  }
  if (state.status === 'signed-out') return <AuthPage notice={state.notice} />;

  const conversationId = path.startsWith('/c/') ? decodeURIComponent(path.slice(3)) : undefined;
  let page;
  if (path === '/documents') page = <DocumentsPage focus={query.get('focus') ?? undefined} />;
  else if (path === '/settings') page = <SettingsPage />;
  else if (path === '/export') page = <TransferPage />;
  else if (path === '/admin')
    page = (
      <Suspense fallback={<p className="muted center">Loading…</p>}>
        <AdminPage />
      </Suspense>
    );
  else page = <ChatPage key={conversationId ?? 'new'} conversationId={conversationId} user={state.user} />;

  return (
    <div className="shell">
      <Sidebar
        user={state.user}
        activeId={conversationId}
        path={path}
        open={menuOpen}
        onClose={() => setMenuOpen(false)}
        theme={theme}
        onToggleTheme={toggleTheme}
        onSignOut={() => void signOut().then(() => navigate('/', true))}
      />
      {menuOpen && <div className="scrim" onClick={() => setMenuOpen(false)} aria-hidden="true" />}
      <main className="main">
        <button type="button" className="btn btn-icon btn-ghost menu-button" aria-label="Open menu" aria-expanded={menuOpen} onClick={() => setMenuOpen(true)}>
          <MenuIcon />
        </button>
        <button
          type="button"
          className="btn btn-icon btn-ghost shortcuts-button"
          aria-label="Keyboard shortcuts"
          title={`Keyboard shortcuts (${keyLabel('Mod')}+/)`}
          onClick={() => setShowShortcuts(true)}
        >
          ?
        </button>
        {page}
      </main>
      {showShortcuts && <ShortcutsDialog onClose={() => setShowShortcuts(false)} />}
    </div>
  );
}

function visible(selector: string): boolean {
  const el = document.querySelector<HTMLElement>(selector);
  return el !== null && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
}

/** Focus once what the shortcut opened (a page, the drawer) is rendered and shown: the drawer
 * becomes visible only as its transition starts, and a hidden field does not take focus. */
function focusLater(selector: string, frames = 30): void {
  requestAnimationFrame(() => {
    const el = document.querySelector<HTMLElement>(selector);
    el?.focus();
    if (document.activeElement !== el && frames > 1) focusLater(selector, frames - 1);
  });
}
