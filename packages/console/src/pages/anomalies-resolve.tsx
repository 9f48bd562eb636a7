/** Resolving an anomaly (admins): an optional note, and whether to keep the detector's block. */
import { FormDialog } from '../components/dialog';
import { Field, optional } from '../components/field';
import { api, type Schemas } from '../lib/api';

export function ResolveDialog({
  open,
  anomaly,
  onClose,
  onResolved,
}: {
  open: boolean;
  anomaly: Schemas['Anomaly'] & { block: Schemas['Block'] | null };
  onClose: () => void;
  /** Called with a sentence saying what happened to the block (shown on the page, not as a toast). */
  onResolved: (text: string) => void;
}) {
  const block = anomaly.block;
  return (
    <FormDialog
      open={open}
      title="Resolve anomaly"
      submitLabel="Resolve"
      onClose={onClose}
      onSubmit={async (form) => {
        const keepBlock = form.get('keepBlock') === 'on';
        const note = optional(form, 'note');
        const result = await api.post('/admin/api/anomalies/{id}/resolve', {
          params: { id: anomaly.id },
          body: { ...(note ? { note } : {}), ...(block ? { keepBlock } : {}) },
        });
        const text = result.liftedBlock
          ? `Resolved. Block ${result.liftedBlock} was lifted: ${anomaly.identityKind} ${anomaly.identity} is no longer refused.`
          : block && keepBlock
            ? 'Resolved. The block stays in place.'
            : block
              ? 'Resolved. The block in place was not made for this anomaly, so it stays.'
              : 'Resolved. There was no block to lift.';
        onResolved(text);
      }}
    >
      <p>
        Mark this anomaly as dealt with.{' '}
        {block
          ? `The block it made on ${block.kind} ${block.value} is lifted unless you keep it.`
          : 'It has no block in force.'}
      </p>
      <Field
        label="Note"
        name="note"
        maxLength={500}
        placeholder="Load test by the mobile team"
        hint="Optional: why, for the audit log (up to 500 characters)."
      />
      {block ? (
        <label>
          <input type="checkbox" name="keepBlock" /> Keep the block in place
        </label>
      ) : null}
    </FormDialog>
  );
}
