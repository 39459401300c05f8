import { useEffect, useState } from 'react';
import type { Theme as ThemeSetting } from '../api/types';

export type Theme = 'light' | 'dark';
const KEY = 'alice.theme';

function systemTheme(): Theme {
  return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** The explicit choice if the user made one, else the system's; follows system changes. Signed
 * in, the choice kept with the account (`setting`) wins, and a toggle is saved there (`save`). */
export function useTheme(setting?: ThemeSetting, save?: (theme: Theme) => void): [Theme, () => void] {
  const [saved, setSaved] = useState<Theme | null>(() => {
    const value = localStorage.getItem(KEY);
    return value === 'light' || value === 'dark' ? value : null;
  });
  const [system, setSystem] = useState<Theme>(systemTheme);
  useEffect(() => {
    const mq = window.matchMedia?.('(prefers-color-scheme: dark)');
    const onChange = () => setSystem(systemTheme());
    mq?.addEventListener('change', onChange);
    return () => mq?.removeEventListener('change', onChange);
  }, []);
  const chosen = setting === undefined ? saved : setting === 'system' ? null : setting;
  const theme = chosen ?? system;
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  const toggle = () => {
    const next: Theme = theme === 'dark' ? 'light' : 'dark';
    localStorage.setItem(KEY, next);
    setSaved(next);
    save?.(next);
  };
  return [theme, toggle];
}
