import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { readableError } from '../api/errors';
import type { ChatSettings, Preset, ServedModel } from '../api/types';
import { useModal } from '../lib/modal';
import { ModelOptions } from './ModelPicker';
import { useAction } from '../lib/action';

interface Form {
  model: string;
  systemPrompt: string;
  temperature: string;
  maxTokens: string;
}

function formOf(settings: ChatSettings): Form {
  return {
    model: settings.model ?? '',
    systemPrompt: settings.system_prompt ?? '',
    temperature: settings.temperature == null ? '' : String(settings.temperature),
    maxTokens: settings.max_tokens == null ? '' : String(settings.max_tokens),
  };
}

/** The form as settings (an empty field: the default); the server checks them again. */
export function settingsOf(form: Form): ChatSettings {
  const prompt = form.systemPrompt.trim();
  return {
    model: form.model || null,
    system_prompt: prompt ? form.systemPrompt : null,
    temperature: form.temperature.trim() === '' ? null : Number(form.temperature),
    max_tokens: form.maxTokens.trim() === '' ? null : Number(form.maxTokens),
  };
}

/** A conversation's model, system prompt, temperature and reply length; presets to apply, save,
 * rename and delete (an admin may publish one for everyone). */
export function ChatSettingsDialog({
  settings,
  models,
  isAdmin,
  onSave,
  onClose,
}: {
  settings: ChatSettings;
  models: ServedModel[];
  isAdmin: boolean;
  onSave: (settings: ChatSettings) => Promise<void>;
  onClose: () => void;
}) {
  const ref = useModal();
  const [form, setForm] = useState<Form>(() => formOf(settings));
  const [presets, setPresets] = useState<Preset[] | null>(null);
  const [presetName, setPresetName] = useState('');
  const [publish, setPublish] = useState(false);
  const [renaming, setRenaming] = useState<{ id: string; name: string } | null>(null);
  const [notice, setNotice] = useState('');
  const { busy, error, setError, run } = useAction();

  const reload = async () => setPresets(await api.listPresets());
  useEffect(() => {
    api.listPresets().then(setPresets, (e) => setError(readableError(e)));
  }, []);

  const field = (name: keyof Form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [name]: e.target.value }));
  const limit = models.find((m) => m.id === (form.model || models.find((d) => d.default)?.id))?.max_tokens_limit;

  const save = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      await onSave(settingsOf(form));
      onClose();
    });
  };
  const apply = (id: string) => {
    const preset = presets?.find((p) => p.id === id);
    if (!preset) return;
    setForm(formOf(preset.settings));
    setNotice(`Preset “${preset.name}” applied: save to keep it.`);
  };
  const saveAsPreset = () =>
    run(async () => {
      const created = await api.createPreset(presetName.trim(), settingsOf(form), isAdmin && publish);
      setPresetName('');
      setPublish(false);
      setNotice(`Preset “${created.name}” saved.`);
      await reload();
    });
  const rename = () =>
    run(async () => {
      if (!renaming) return;
      await api.updatePreset(renaming.id, { name: renaming.name.trim() });
      setRenaming(null);
      await reload();
    });
  const remove = (preset: Preset) =>
    run(async () => {
      await api.deletePreset(preset.id);
      setNotice(`Preset “${preset.name}” deleted.`);
      await reload();
    });

  return (
    <dialog ref={ref} className="dialog settings-dialog" aria-labelledby="chat-settings-title" onCancel={(e) => (e.preventDefault(), onClose())}>
      <h2 id="chat-settings-title">Chat settings</h2>
      <form className="settings-form" onSubmit={save}>
        <label htmlFor="preset-apply">Apply a preset</label>
        <select id="preset-apply" value="" onChange={(e) => apply(e.target.value)} disabled={!presets || presets.length === 0}>
          <option value="">{presets && presets.length === 0 ? 'No presets yet' : 'Choose a preset…'}</option>
          {presets?.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
              {p.mine ? '' : ' (shared)'}
            </option>
          ))}
        </select>
        <label htmlFor="settings-model">Model</label>
        <select id="settings-model" value={form.model} onChange={field('model')}>
          <option value="">Default model</option>
          <ModelOptions models={models} />
        </select>
        <label htmlFor="settings-prompt">System prompt</label>
        <textarea id="settings-prompt" rows={4} maxLength={4000} placeholder="Default: Alice, a helpful assistant" value={form.systemPrompt} onChange={field('systemPrompt')} />
        <div className="settings-row">
          <span>
            <label htmlFor="settings-temperature">Temperature</label>
            <input id="settings-temperature" type="number" min={0} max={2} step={0.1} placeholder="default" value={form.temperature} onChange={field('temperature')} />
          </span>
          <span>
            <label htmlFor="settings-max-tokens">Max tokens</label>
            <input id="settings-max-tokens" type="number" min={1} max={limit} step={1} placeholder="default" value={form.maxTokens} onChange={field('maxTokens')} />
          </span>
        </div>
        <div className="dialog-actions">
          <button type="button" className="btn btn-secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            Save settings
          </button>
        </div>
      </form>
      {error && <p className="form-error small" role="alert">{error}</p>}
      <p className="visually-hidden" role="status">{notice}</p>
      <h3 className="card-subtitle">Save these settings as a preset</h3>
      <div className="key-form">
        <input aria-label="Preset name" placeholder="Preset name" maxLength={80} value={presetName} onChange={(e) => setPresetName(e.target.value)} />
        <button type="button" className="btn btn-sm" disabled={busy || !presetName.trim()} onClick={() => void saveAsPreset()}>
          Save as preset
        </button>
      </div>
      {isAdmin && (
        <label className="small checkbox">
          <input type="checkbox" checked={publish} onChange={(e) => setPublish(e.target.checked)} /> Publish for everyone
        </label>
      )}
      <h3 className="card-subtitle">Presets</h3>
      {presets === null ? (
        <p className="muted small">Loading…</p>
      ) : presets.length === 0 ? (
        <p className="muted small">No presets yet.</p>
      ) : (
        <ul className="share-list" aria-label="Presets">
          {presets.map((p) => (
            <li key={p.id}>
              {renaming?.id === p.id ? (
                <span className="key-form">
                  <input aria-label={`New name for ${p.name}`} maxLength={80} value={renaming.name} onChange={(e) => setRenaming({ id: p.id, name: e.target.value })} />
                  <button type="button" className="btn btn-sm" disabled={busy || !renaming.name.trim()} onClick={() => void rename()}>
                    Save name
                  </button>
                </span>
              ) : (
                <span className="small">
                  {p.name}
                  {p.published ? (p.mine ? ' · published' : ' · shared by an admin') : ''}
                </span>
              )}
              {p.mine && renaming?.id !== p.id && (
                <span>
                  <button type="button" className="btn btn-sm btn-ghost" aria-label={`Rename ${p.name}`} onClick={() => setRenaming({ id: p.id, name: p.name })}>
                    Rename
                  </button>
                  <button type="button" className="btn btn-sm btn-danger" disabled={busy} aria-label={`Delete ${p.name}`} onClick={() => void remove(p)}>
                    Delete
                  </button>
                </span>
              )}
            </li>
          ))}
        </ul>
      )}
    </dialog>
  );
}
