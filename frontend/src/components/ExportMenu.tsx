import { useState } from 'react';
import type { DownloadedFile } from '../api/client';
import { readableError } from '../api/errors';
import type { ExportFormat } from '../api/types';
import { saveFile } from '../lib/files';
import { DownloadIcon } from './icons';

const FORMATS: { format: ExportFormat; label: string }[] = [
  { format: 'markdown', label: 'Markdown' },
  { format: 'json', label: 'JSON' },
];

/** "Export" opening a choice of formats; the chosen one downloads as a file. */
export function ExportMenu({ what, download }: { what: string; download: (format: ExportFormat) => Promise<DownloadedFile> }) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const pick = async (format: ExportFormat) => {
    setOpen(false);
    setBusy(true);
    setError(null);
    try {
      saveFile(await download(format));
    } catch (err) {
      setError(readableError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="export-menu">
      <button type="button" className="btn btn-sm btn-ghost" aria-expanded={open} aria-label={`Export ${what}`} disabled={busy} onClick={() => setOpen(!open)}>
        <DownloadIcon width={14} height={14} /> {busy ? 'Exporting…' : 'Export'}
      </button>
      {open && (
        <div className="export-choices" role="group" aria-label={`Export ${what} as`}>
          {FORMATS.map(({ format, label }) => (
            <button key={format} type="button" className="btn btn-sm" onClick={() => void pick(format)}>
              {label}
            </button>
          ))}
        </div>
      )}
      {error && <p className="form-error small" role="alert">{error}</p>}
    </div>
  );
}
