/**
 * A secret shown once: a new API key, a rotated key's new secret, a client's new HMAC secret,
 * a new API token, a new user's password. The plaintext lives only in the caller's state and
 * is dropped when this dialog closes (Done, Close or Escape); it goes nowhere else but the
 * clipboard, and only when asked. Never in storage or an address.
 */
import { type ReactNode, useRef, useState } from 'react';
import { Dialog } from './dialog';

export function SecretOnceDialog({
  secret,
  title,
  testId,
  label,
  onDone,
  children,
}: {
  /** The plaintext, or null when there is nothing to show (the dialog is closed). */
  secret: string | null;
  title: string;
  testId: string;
  /** What the secret is ("Password for vera"), shown above it. */
  label?: string;
  /** Must drop the secret from the caller's state. */
  onDone: () => void;
  /** What the secret is for, said under the warning. */
  children?: ReactNode;
}) {
  return (
    <Dialog open={secret !== null} title={title} onClose={onDone}>
      {secret !== null ? (
        <SecretBox secret={secret} testId={testId} label={label} onDone={onDone}>
          {children}
        </SecretBox>
      ) : null}
    </Dialog>
  );
}

/** Mounted only while the dialog is open, so the copy state starts afresh for every secret. */
function SecretBox({
  secret,
  testId,
  label,
  onDone,
  children,
}: {
  secret: string;
  testId: string;
  label: string | undefined;
  onDone: () => void;
  children?: ReactNode;
}) {
  const [copy, setCopy] = useState<'idle' | 'copied' | 'failed'>('idle');
  const code = useRef<HTMLElement>(null);

  const copyIt = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopy('copied');
    } catch {
      // No clipboard permission (or an old browser): select the text so Ctrl+C works.
      const element = code.current;
      const selection = window.getSelection();
      if (element && selection) {
        const range = document.createRange();
        range.selectNodeContents(element);
        selection.removeAllRanges();
        selection.addRange(range);
      }
      setCopy('failed');
    }
  };

  return (
    <>
      <div className="secret-box">
        <p>
          <strong>Copy it now: you will not see this again.</strong>
        </p>
        {label ? <p>{label}</p> : null}
        <code ref={code} data-testid={testId}>
          {secret}
        </code>
        <button type="button" className="secondary" onClick={() => void copyIt()}>
          {copy === 'copied' ? 'Copied' : 'Copy'}
        </button>
        <p className="muted copy-status" aria-live="polite">
          {copy === 'failed'
            ? 'The browser refused the clipboard: the text is selected, press Ctrl+C.'
            : null}
        </p>
      </div>
      {children}
      <footer>
        <button type="button" onClick={onDone}>
          Done
        </button>
      </footer>
    </>
  );
}
