import { useEffect, useRef } from 'react';

/** A ref for a native <dialog> shown modally while the component is mounted (focus trap and
 * Escape come with it), closed when it unmounts. */
export function useModal() {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal?.();
    return () => dialog?.close?.();
  }, []);
  return ref;
}
