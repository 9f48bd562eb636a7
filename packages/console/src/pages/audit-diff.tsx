/**
 * What an audit entry changed: the redacted before and after snapshots flattened to fields
 * (`limits.perMinute`, `scopes`) and shown side by side, changed fields highlighted.
 */
import { useId, useState } from 'react';

export type Change = 'added' | 'removed' | 'changed' | 'same';

export interface FieldDiff {
  path: string;
  before: string | undefined;
  after: string | undefined;
  change: Change;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Strings as they are, times (`createdAt`: epoch ms) as ISO dates, everything else as JSON. */
function show(path: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && /(^|\.)(at|\w+At)$/.test(path) && value > 1e11 && value < 1e14)
    return new Date(value).toISOString();
  return JSON.stringify(value);
}

/**
 * Leaves of a snapshot by path. Arrays of plain values stay one field (a list of scopes reads
 * better whole); arrays of objects are opened by index.
 */
function flatten(value: unknown, path: string, out: Map<string, string>): Map<string, string> {
  if (isObject(value) && Object.keys(value).length > 0) {
    for (const [key, child] of Object.entries(value)) flatten(child, path ? `${path}.${key}` : key, out);
  } else if (Array.isArray(value) && value.some((item) => isObject(item) || Array.isArray(item))) {
    value.forEach((item, index) => {
      flatten(item, `${path}[${index}]`, out);
    });
  } else if (path !== '' || value !== null) {
    out.set(path || '(value)', show(path, value));
  }
  return out;
}

export function diffSnapshots(before: unknown, after: unknown): FieldDiff[] {
  const was = flatten(before ?? null, '', new Map());
  const now = flatten(after ?? null, '', new Map());
  // The order of the newer snapshot, then fields only the older one had, where they were.
  const paths = [...now.keys()];
  let at = 0;
  for (const path of was.keys()) {
    const index = paths.indexOf(path);
    if (index >= 0) at = index + 1;
    else paths.splice(at++, 0, path);
  }
  return paths.map((path) => {
    const b = was.get(path);
    const a = now.get(path);
    const change: Change =
      b === undefined ? 'added' : a === undefined ? 'removed' : a === b ? 'same' : 'changed';
    return { path, before: b, after: a, change };
  });
}

function Cell({
  value,
  side,
  change,
}: {
  value: string | undefined;
  side: 'before' | 'after';
  change: Change;
}) {
  if (value === undefined) return <span className="muted">—</span>;
  if (side === 'before' && (change === 'removed' || change === 'changed'))
    return <del className="diff-remove">{value}</del>;
  if (side === 'after' && (change === 'added' || change === 'changed'))
    return <ins className="diff-add">{value}</ins>;
  return <>{value}</>;
}

export function SnapshotDiff({ before, after }: { before: unknown; after: unknown }) {
  const fields = diffSnapshots(before, after);
  const changed = fields.filter((field) => field.change !== 'same');
  const [showSame, setShowSame] = useState(false);
  const toggleId = useId();
  const shown = showSame ? fields : changed;
  const unchanged = fields.length - changed.length;

  const summary =
    before == null && after == null
      ? 'No snapshot was recorded for this change.'
      : before == null
        ? `Created with ${fields.length} field${fields.length === 1 ? '' : 's'}.`
        : after == null
          ? `Deleted; it had ${fields.length} field${fields.length === 1 ? '' : 's'}.`
          : `${changed.length} field${changed.length === 1 ? '' : 's'} changed, ${unchanged} unchanged.`;

  return (
    <section className="snapshot-diff" aria-label="Changes">
      <p>
        {summary}{' '}
        {unchanged > 0 ? (
          <label htmlFor={toggleId} className="inline-toggle">
            <input
              id={toggleId}
              type="checkbox"
              checked={showSame}
              onChange={(event) => setShowSame(event.target.checked)}
            />
            Show unchanged fields
          </label>
        ) : null}
      </p>
      {shown.length > 0 ? (
        <div className="table-wrap">
          <table className="diff-table">
            <caption className="visually-hidden">Fields before and after the change</caption>
            <thead>
              <tr>
                <th scope="col">Field</th>
                <th scope="col">Before</th>
                <th scope="col">After</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((field) => (
                <tr key={field.path} className={`diff-${field.change}`}>
                  <th scope="row">
                    <code>{field.path}</code>
                  </th>
                  <td>
                    <Cell value={field.before} side="before" change={field.change} />
                  </td>
                  <td>
                    <Cell value={field.after} side="after" change={field.change} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : fields.length > 0 ? (
        <p className="muted">Nothing in the recorded snapshots differs.</p>
      ) : null}
      <details>
        <summary>Raw snapshots (JSON)</summary>
        <div className="raw-snapshots">
          <figure>
            <figcaption>Before</figcaption>
            <pre className="code">{JSON.stringify(before ?? null, null, 2)}</pre>
          </figure>
          <figure>
            <figcaption>After</figcaption>
            <pre className="code">{JSON.stringify(after ?? null, null, 2)}</pre>
          </figure>
        </div>
      </details>
    </section>
  );
}
