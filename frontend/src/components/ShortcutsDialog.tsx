import { useModal } from '../lib/modal';
import { COMPOSER_KEYS, keyLabel, SHORTCUTS } from '../lib/shortcuts';

function Keys({ keys }: { keys: string[] }) {
  return (
    <span className="keys">
      {keys.map((k, i) => (
        <kbd key={i}>{keyLabel(k)}</kbd>
      ))}
    </span>
  );
}

const ROWS = [...SHORTCUTS, ...COMPOSER_KEYS];

/** The keyboard shortcuts, on the native <dialog> (focus trap and Escape to close). */
export function ShortcutsDialog({ onClose }: { onClose: () => void }) {
  const ref = useModal();
  return (
    <dialog ref={ref} className="dialog" aria-labelledby="shortcuts-title" onCancel={(e) => (e.preventDefault(), onClose())}>
      <h2 id="shortcuts-title">Keyboard shortcuts</h2>
      <table className="shortcuts">
        <tbody>
          {ROWS.map((row) => (
            <tr key={row.does}>
              <th scope="row">{row.does}</th>
              <td>
                <Keys keys={row.keys} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="dialog-actions">
        <button type="button" className="btn btn-secondary" onClick={onClose} autoFocus>
          Close
        </button>
      </div>
    </dialog>
  );
}
