import { useEffect, useState } from 'react';
import { api } from '../api/client';
import { readableError } from '../api/errors';
import type { Preset, ServedModel, Theme, User, UserSettingsChanges } from '../api/types';
import { ModelOptions } from './ModelPicker';

/** The per-user settings kept with the account: theme, and what a new conversation starts with. */
export function ChatDefaults({ user, onChange }: { user: User; onChange: (changes: UserSettingsChanges) => Promise<void> }) {
  const [models, setModels] = useState<ServedModel[]>([]);
  const [presets, setPresets] = useState<Preset[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState('');

  useEffect(() => {
    api.listModels().then(setModels, (e) => setError(readableError(e)));
    api.listPresets().then(setPresets, (e) => setError(readableError(e)));
  }, []);
  const change = async (changes: UserSettingsChanges) => {
    setError(null);
    setSaved('');
    try {
      await onChange(changes);
      setSaved('Saved.');
    } catch (err) {
      setError(readableError(err));
    }
  };
  const { theme, default_model: model, default_preset_id: preset } = user.settings;

  return (
    <div className="settings-form">
      <label htmlFor="default-theme">Theme</label>
      <select id="default-theme" value={theme} onChange={(e) => void change({ theme: e.target.value as Theme })}>
        <option value="system">Same as the system</option>
        <option value="light">Light</option>
        <option value="dark">Dark</option>
      </select>
      <label htmlFor="default-model">Default model for new chats</label>
      <select id="default-model" value={model ?? ''} onChange={(e) => void change({ default_model: e.target.value || null })}>
        <option value="">The server's default</option>
        <ModelOptions models={models} />
      </select>
      <label htmlFor="default-preset">Default preset for new chats</label>
      <select id="default-preset" value={preset ?? ''} onChange={(e) => void change({ default_preset_id: e.target.value || null })}>
        <option value="">None</option>
        {presets.map((p) => (
          <option key={p.id} value={p.id}>
            {p.name}
            {p.mine ? '' : ' (shared)'}
          </option>
        ))}
      </select>
      {error && <p className="form-error small" role="alert">{error}</p>}
      <p className="visually-hidden" role="status">{saved}</p>
    </div>
  );
}
