/**
 * A secret shown once (a new API token, a user's password): it lives only in the state of
 * the component that opened this dialog, which drops it on close. Never in storage or a URL.
 */
import { type ReactNode, useId, useState } from 'react';
import { Dialog } from '../components/dialog';

export interface OnceSecret {
  title: string;
  /** What it is, for whom ("Password for vera"). */
  label: string;
  value: string;
  /** One sentence on how to use it. */
  hint?: ReactNode;
}

export function SecretOnceDialog({ secret, onClose }: { secret: OnceSecret | null; onClose: () => void }) {
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  const id = useId();
  const close = () => {
    setCopied(null);
    onClose();
  };
  const copy = async () => {
    if (!secret) return;
    try {
      await navigator.clipboard.writeText(secret.value);
      setCopied('yes');
    } catch {
      // Clipboard access needs a secure context; selecting the text still lets people copy it.
      (document.getElementById(id) as HTMLInputElement | null)?.select();
      setCopied('failed');
    }
  };
  return (
    <Dialog open={secret !== null} title={secret?.title ?? ''} onClose={close}>
      {secret ? (
        <div className="secret-box">
          <p>
            <strong>Copy it now: you will not see this again.</strong> It is not stored anywhere it could be
            shown later.
          </p>
          <label htmlFor={id}>{secret.label}</label>
          <input
            id={id}
            className="secret-value"
            readOnly
            value={secret.value}
            onFocus={(event) => event.currentTarget.select()}
            autoComplete="off"
            spellCheck={false}
          />
          {secret.hint ? <p className="muted">{secret.hint}</p> : null}
          <footer className="secret-actions">
            <output aria-live="polite" className="muted">
              {copied === 'yes'
                ? 'Copied to the clipboard.'
                : copied === 'failed'
                  ? 'Copy failed: the text is selected, press Ctrl+C.'
                  : ''}
            </output>
            <button type="button" className="secondary" onClick={() => void copy()}>
              Copy
            </button>
            <button type="button" onClick={close}>
              Done
            </button>
          </footer>
        </div>
      ) : null}
    </Dialog>
  );
}
