/**
 * Filter inputs shared by the Logs and Audit log pages: the "Since" choice (a preset duration
 * or a custom start time) and text filters that apply after a pause in typing or on Enter.
 */
import { type InputHTMLAttributes, useEffect, useRef, useState } from 'react';
import { Field, Select } from '../components/field';

/** Durations the admin API understands as "this long ago". */
const PRESETS = [
  { value: '15m', label: 'Last 15 minutes' },
  { value: '1h', label: 'Last hour' },
  { value: '6h', label: 'Last 6 hours' },
  { value: '24h', label: 'Last 24 hours' },
  { value: '7d', label: 'Last 7 days' },
] as const;
const CUSTOM = 'custom';

function isPreset(value: string): boolean {
  return PRESETS.some((preset) => preset.value === value);
}

/** An ISO time as the value of a datetime-local input (local time, minutes). */
function toLocalInput(iso: string): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return '';
  const local = new Date(at.getTime() - at.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

/**
 * "Since": any time, a preset, or a custom start. The value is what the API takes: a duration
 * (`1h`) or an ISO date; empty means any time.
 */
export function SinceFilter({ value, onChange }: { value: string; onChange: (value: string) => void }) {
  const [customMode, setCustomMode] = useState(false);
  const previous = useRef(value);
  // Set to a preset or cleared ("Clear filters", a link): leave the custom input.
  useEffect(() => {
    if (value === '' ? previous.current !== '' : isPreset(value)) setCustomMode(false);
    previous.current = value;
  }, [value]);
  const custom = customMode || (value !== '' && !isPreset(value));
  return (
    <>
      <Select
        label="Since"
        value={custom ? CUSTOM : value}
        onChange={(event) => {
          const next = event.target.value;
          setCustomMode(next === CUSTOM);
          if (next !== CUSTOM) onChange(next);
        }}
        options={[{ value: '', label: 'Any time' }, ...PRESETS, { value: CUSTOM, label: 'Custom…' }]}
      />
      {custom ? (
        <Field
          label="Start time"
          type="datetime-local"
          value={value && !isPreset(value) ? toLocalInput(value) : ''}
          onChange={(event) => {
            const at = new Date(event.target.value);
            if (event.target.value === '') onChange('');
            else if (!Number.isNaN(at.getTime())) onChange(at.toISOString());
          }}
        />
      ) : null}
    </>
  );
}

/**
 * A text filter: shows what is typed at once, applies it after a short pause, on Enter or on
 * leaving the field. `valid` keeps a half-typed value (a status of "4") out of the query.
 */
export function TextFilter({
  label,
  value,
  onCommit,
  valid = () => true,
  invalidHint,
  ...input
}: {
  label: string;
  value: string;
  onCommit: (value: string) => void;
  valid?: (value: string) => boolean;
  invalidHint?: string;
} & Omit<InputHTMLAttributes<HTMLInputElement>, 'value' | 'onChange'>) {
  const [draft, setDraft] = useState(value);
  const commitRef = useRef(onCommit);
  commitRef.current = onCommit;

  // The address changed (cleared, shared link, back): show it, unless it is what is typed.
  useEffect(() => setDraft((typed) => (typed.trim() === value ? typed : value)), [value]);

  const trimmed = draft.trim();
  const ok = trimmed === '' || valid(trimmed);
  useEffect(() => {
    if (trimmed === value || !ok) return;
    const timer = setTimeout(() => commitRef.current(trimmed), 500);
    return () => clearTimeout(timer);
  }, [trimmed, value, ok]);

  const commitNow = () => {
    if (ok && trimmed !== value) onCommit(trimmed);
  };
  return (
    <Field
      label={label}
      value={draft}
      aria-invalid={ok ? undefined : true}
      hint={ok ? undefined : invalidHint}
      onChange={(event) => setDraft(event.target.value)}
      onBlur={commitNow}
      onKeyDown={(event) => {
        if (event.key === 'Enter') {
          event.preventDefault();
          commitNow();
        }
      }}
      {...input}
    />
  );
}
