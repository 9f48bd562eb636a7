/**
 * Modal dialogs on the native <dialog> element: the browser traps focus, closes on Escape
 * and returns focus to the opener, so keyboard users get it right without extra code.
 */
import { type FormEvent, type ReactNode, useEffect, useRef, useState } from 'react';
import { errorMessage } from '../lib/api';

export function Dialog({
  open,
  title,
  onClose,
  children,
  wide,
}: {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ReactNode;
  wide?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      dialog.showModal();
      // Start where the work is: the first field (or else the first button after Close).
      const target =
        dialog.querySelector<HTMLElement>(
          'article input:not([type=hidden]):not([readonly]), article select, article textarea',
        ) ?? dialog.querySelector<HTMLElement>('article footer button, article button:not(.close)');
      target?.focus();
    }
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      // The native close event arrives a moment after closing; if the dialog was opened again
      // in between (a row opened right after Escape), that late event must not close it.
      onClose={() => {
        if (!ref.current?.open) onClose();
      }}
      aria-label={title}
    >
      <article className={wide ? 'wide' : undefined}>
        <header>
          <button type="button" aria-label="Close" rel="prev" className="close" onClick={onClose} />
          <h2>{title}</h2>
        </header>
        {open ? children : null}
      </article>
    </dialog>
  );
}

/**
 * A dialog holding a form: submit runs `onSubmit`; an error from the API is shown inside the
 * dialog (the input stays as typed, nothing is lost), success closes it.
 */
export function FormDialog({
  open,
  title,
  submitLabel,
  onClose,
  onSubmit,
  children,
  danger,
  wide,
}: {
  open: boolean;
  title: string;
  submitLabel: string;
  onClose: () => void;
  /** Throw to keep the dialog open with the error shown; return 'keep-open' to stay open. */
  onSubmit: (form: FormData) => Promise<unknown>;
  children: ReactNode;
  danger?: boolean;
  wide?: boolean;
}) {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (open) setError(null);
  }, [open]);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setPending(true);
    setError(null);
    try {
      const result = await onSubmit(new FormData(event.currentTarget));
      if (result !== 'keep-open') onClose();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setPending(false);
    }
  };
  return (
    <Dialog open={open} title={title} onClose={onClose} wide={wide}>
      <form onSubmit={submit}>
        {children}
        {error ? (
          <p className="form-error" role="alert">
            {error}
          </p>
        ) : null}
        <footer>
          <button type="button" className="secondary" onClick={onClose}>
            Cancel
          </button>
          <button
            type="submit"
            className={danger ? 'danger' : undefined}
            aria-busy={pending}
            disabled={pending}
          >
            {submitLabel}
          </button>
        </footer>
      </form>
    </Dialog>
  );
}
