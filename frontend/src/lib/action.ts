import { useState } from 'react';
import { readableError } from '../api/errors';

/** A dialog's actions: `run(action)` is busy while it runs and shows its failure as `error`
 * (cleared when the next one starts). */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(readableError(err));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}
