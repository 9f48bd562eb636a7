/**
 * The declarative view of routes and policies: the export as editable YAML, a dry run that
 * shows the plan, and an apply that is only offered for the exact text (and prune choice)
 * that was dry-run, so what is applied is what was reviewed.
 */
import { useEffect, useId, useState } from 'react';
import { IfCanWrite } from '../components/layout';
import { useNotify } from '../components/notify';
import { Loaded } from '../components/states';
import { api, errorMessage, type Schemas } from '../lib/api';
import { useSession } from '../lib/session';
import { useApi } from '../lib/use-api';

type Plan = Schemas['DeclarativeApplyResult'];
type Section = Schemas['DeclarativeSection'];

interface Reviewed {
  text: string;
  prune: boolean;
  plan: Plan;
}

function lineClass(line: string): string | undefined {
  if (line.startsWith('+')) return 'diff-add';
  if (line.startsWith('-')) return 'diff-remove';
  if (line.startsWith('~')) return 'diff-change';
  return 'muted';
}

function countsText(plan: Plan, done = false): string {
  const { create, update, remove } = plan.counts;
  return done
    ? `${create} created, ${update} updated, ${remove} removed`
    : `${create} to create, ${update} to update, ${remove} to remove`;
}

function SectionList({ name, section }: { name: string; section: Section }) {
  const parts: [string, readonly string[]][] = [
    ['created', section.create],
    ['updated', section.update],
    ['removed', section.remove],
    ['kept (not in the document)', section.kept],
    ['unchanged', section.unchanged],
  ];
  const shown = parts.filter(([, ids]) => ids.length > 0);
  if (shown.length === 0) return null;
  return (
    <>
      {shown.map(([what, ids]) => (
        <li key={what}>
          {name} {what}: {ids.join(', ')}
        </li>
      ))}
    </>
  );
}

export function PlanView({ plan, applied }: { plan: Plan; applied?: boolean }) {
  const headingId = useId();
  return (
    <section
      className="plan"
      aria-labelledby={headingId}
      data-testid={applied ? 'applied-plan' : 'dry-run-plan'}
    >
      <h3 id={headingId}>{applied ? 'Applied' : 'Planned changes (dry run)'}</h3>
      <p>
        {plan.changed
          ? applied
            ? `Done: ${countsText(plan, true)}.`
            : `${countsText(plan)}. Nothing is written until you apply.`
          : 'Nothing to change: the gateway already matches this document.'}
      </p>
      {plan.changes.length > 0 ? (
        <pre className="code plan-lines">
          {plan.changes.map((line, index) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: lines can repeat; the list is never reordered.
            <span key={index} className={lineClass(line)}>
              {line}
              {'\n'}
            </span>
          ))}
        </pre>
      ) : null}
      <ul className="plan-list">
        <SectionList name="Routes" section={plan.routes} />
        <SectionList name="Policies" section={plan.policies} />
      </ul>
    </section>
  );
}

export function DeclarativePanel({ onApplied }: { onApplied: () => void }) {
  const { canWrite } = useSession();
  const { notify } = useNotify();
  const exported = useApi(
    // The export answers YAML text (application/yaml), which the SDK hands back as a string.
    // Wrapped in a fresh object per load so that a reload refills the editor even when the
    // text did not change.
    async (signal) => ({
      yaml: (await api.get('/admin/api/declarative/export', { signal })) as unknown as string,
    }),
    [],
  );
  const [text, setText] = useState<string | null>(null);
  const [prune, setPrune] = useState(false);
  const [reviewed, setReviewed] = useState<Reviewed | null>(null);
  const [applied, setApplied] = useState<Plan | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<'dry-run' | 'apply' | null>(null);
  const hintId = useId();

  // A load fills the editor when it was emptied (first load, reload, after apply); edits are
  // never overwritten by a load.
  useEffect(() => {
    const loaded = exported.data?.yaml;
    if (loaded !== undefined) setText((current) => current ?? loaded);
  }, [exported.data]);

  const current = text ?? '';
  const dirty = exported.data !== undefined && current !== exported.data.yaml;
  const canApply =
    reviewed !== null && reviewed.text === current && reviewed.prune === prune && reviewed.plan.changed;

  const dryRun = async () => {
    setBusy('dry-run');
    setError(null);
    setApplied(null);
    try {
      const plan = await api.post('/admin/api/declarative/apply', {
        body: { document: current, dryRun: true, prune },
      });
      setReviewed({ text: current, prune, plan });
    } catch (err) {
      setReviewed(null);
      setError(errorMessage(err));
    } finally {
      setBusy(null);
    }
  };

  const apply = async () => {
    if (!reviewed) return;
    const removing = reviewed.plan.counts.remove;
    if (removing > 0 && !window.confirm(`Apply this document? It removes ${removing} item(s).`)) return;
    setBusy('apply');
    setError(null);
    try {
      const plan = await api.post('/admin/api/declarative/apply', {
        body: { document: reviewed.text, dryRun: false, prune: reviewed.prune },
      });
      setApplied(plan);
      setReviewed(null);
      notify('ok', plan.changed ? `Applied: ${countsText(plan, true)}` : 'Nothing to change');
      // What is stored now (the export) is the editor's new starting point.
      setText(null);
      exported.reload();
      onApplied();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(null);
    }
  };

  const reload = () => {
    if (dirty && !window.confirm('Discard your edits and load the current configuration?')) return;
    setText(null);
    setReviewed(null);
    setError(null);
    exported.reload();
  };

  return (
    <Loaded state={exported}>
      {() => (
        <div className="declarative">
          <p className="muted" id={hintId}>
            Routes and policies as one document, the same that <code>portcullis export</code> writes and{' '}
            <code>portcullis apply -f</code> reads. It never holds a secret.
            {canWrite
              ? ' Edit it, dry-run to see what would change, then apply: the document is applied whole or not at all.'
              : ' Viewers can read and copy it; only admins can dry-run or apply.'}
          </p>
          <label>
            Declarative document
            <textarea
              className="yaml-editor"
              value={current}
              onChange={(event) => setText(event.target.value)}
              readOnly={!canWrite}
              spellCheck={false}
              autoCapitalize="off"
              autoComplete="off"
              rows={22}
              aria-describedby={hintId}
            />
          </label>
          <div className="declarative-actions">
            <IfCanWrite>
              <div className="inline-check">
                <label>
                  <input
                    type="checkbox"
                    checked={prune}
                    onChange={(event) => setPrune(event.target.checked)}
                    aria-describedby={`${hintId}-prune`}
                  />{' '}
                  Prune
                </label>
                <small className="muted" id={`${hintId}-prune`}>
                  Remove routes (and policies, when the document has a policies section) it does not name.
                </small>
              </div>
              <button
                type="button"
                className="secondary"
                onClick={() => void dryRun()}
                aria-busy={busy === 'dry-run'}
                disabled={busy !== null}
              >
                Dry run
              </button>
              <button
                type="button"
                onClick={() => void apply()}
                disabled={!canApply || busy !== null}
                aria-busy={busy === 'apply'}
                aria-describedby={`${hintId}-apply`}
              >
                Apply
              </button>
            </IfCanWrite>
            <button type="button" className="secondary outline" onClick={reload}>
              Reload current configuration
            </button>
          </div>
          <IfCanWrite>
            <p className="muted small" id={`${hintId}-apply`}>
              {canApply
                ? 'Apply writes exactly the plan below.'
                : reviewed && reviewed.text === current && reviewed.prune === prune
                  ? 'Nothing to apply: the dry run found no change.'
                  : 'Apply is available after a dry run of this exact text.'}
            </p>
          </IfCanWrite>
          {error ? (
            <div className="form-error plan-error" role="alert">
              <p>The document was refused; nothing was changed.</p>
              <pre>{error}</pre>
            </div>
          ) : null}
          {reviewed ? <PlanView plan={reviewed.plan} /> : null}
          {applied ? <PlanView plan={applied} applied /> : null}
        </div>
      )}
    </Loaded>
  );
}
