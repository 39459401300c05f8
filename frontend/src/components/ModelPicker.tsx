import type { ServedModel } from '../api/types';

/** The model a conversation's replies come from, in the composer. A model whose endpoint is down
 * is listed as unavailable; chosen, it says so beside the picker, and a message sent to it ends
 * with the server's `model_unavailable` error: never a silent failure. */
export function ModelPicker({
  models,
  value,
  onChange,
  disabled,
}: {
  models: ServedModel[] | null;
  /** The chosen model's id; null: the default model. */
  value: string | null;
  onChange: (model: string | null) => void;
  disabled?: boolean;
}) {
  if (!models || models.length === 0) return null;
  const fallback = models.find((m) => m.default) ?? models[0];
  const current = value ?? fallback.id;
  const chosen = models.find((m) => m.id === current);
  return (
    <div className="model-picker">
      <select
        aria-label="Model"
        className="model-select"
        value={current}
        disabled={disabled}
        onChange={(e) => onChange(e.target.value === fallback.id && value === null ? null : e.target.value)}
      >
        {!chosen && <option value={current}>{current} (no longer served)</option>}
        <ModelOptions models={models} markDefault />
      </select>
      {(!chosen || !chosen.available) && (
        <span className="model-warning small" role="status">
          {chosen ? `${current} is unavailable right now: pick another model.` : `${current} is no longer served: pick another model.`}
        </span>
      )}
    </div>
  );
}

/** One `<option>` per served model, an unavailable one marked as such (and the default, if asked). */
export function ModelOptions({ models, markDefault = false }: { models: ServedModel[]; markDefault?: boolean }) {
  return (
    <>
      {models.map((m) => (
        <option key={m.id} value={m.id}>
          {m.id}
          {markDefault && m.default ? ' (default)' : ''}
          {m.available ? '' : ' (unavailable)'}
        </option>
      ))}
    </>
  );
}
