/** Page furniture: header, loading, empty and error states (designed, not blank screens). */
import type { ReactNode } from 'react';
import { errorMessage, isUnreachable } from '../lib/api';

export function PageHeader({
  title,
  subtitle,
  actions,
}: {
  title: string;
  subtitle?: ReactNode;
  actions?: ReactNode;
}) {
  return (
    <header className="page-header">
      <div>
        <h1>{title}</h1>
        {subtitle ? <p className="muted">{subtitle}</p> : null}
      </div>
      {actions ? <div className="actions">{actions}</div> : null}
    </header>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p className="state" aria-busy="true">
      {what}…
    </p>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <section className="state empty" aria-live="polite">
      <h2>{title}</h2>
      {children ? <div className="muted">{children}</div> : null}
    </section>
  );
}

export function ErrorState({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const down = isUnreachable(error);
  return (
    <section className="state error" role="alert">
      <h2>{down ? 'The admin API is not answering' : 'This could not be loaded'}</h2>
      <p>{errorMessage(error)}</p>
      {onRetry ? (
        <button type="button" className="secondary" onClick={onRetry}>
          Retry
        </button>
      ) : null}
    </section>
  );
}

/**
 * The three states of loaded data in one place: a page passes what `useApi` gave it and
 * how to render the data; loading, errors and "nothing yet" look the same everywhere.
 */
export function Loaded<T>({
  state,
  empty,
  children,
}: {
  state: { data: T | undefined; error: unknown; loading: boolean; reload: () => void };
  /** Shown instead of children when this returns true for the data. */
  empty?: { when: (data: T) => boolean; title: string; hint?: ReactNode };
  children: (data: T) => ReactNode;
}) {
  if (state.data === undefined) {
    if (state.error !== undefined) return <ErrorState error={state.error} onRetry={state.reload} />;
    return <Loading />;
  }
  return (
    <>
      {state.error !== undefined ? <ErrorState error={state.error} onRetry={state.reload} /> : null}
      {empty?.when(state.data) ? (
        <EmptyState title={empty.title}>{empty.hint}</EmptyState>
      ) : (
        children(state.data)
      )}
    </>
  );
}

export function Badge({
  tone = 'neutral',
  children,
}: {
  tone?: 'ok' | 'warn' | 'bad' | 'neutral';
  children: ReactNode;
}) {
  return <span className={`badge ${tone}`}>{children}</span>;
}
