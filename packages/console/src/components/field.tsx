/** Labelled form fields (every input has a visible label; hints are tied with aria-describedby). */
import { type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, useId } from 'react';

export function Field({
  label,
  hint,
  ...input
}: { label: string; hint?: ReactNode } & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  // The label wraps the control (Pico's layout) but names it by its text alone: the hint is a
  // description (aria-describedby), not part of the name.
  return (
    <label htmlFor={id}>
      <span id={`${id}-label`}>{label}</span>
      <input
        id={id}
        aria-labelledby={`${id}-label`}
        aria-describedby={hint ? `${id}-hint` : undefined}
        {...input}
      />
      {hint ? <small id={`${id}-hint`}>{hint}</small> : null}
    </label>
  );
}

export function Select({
  label,
  options,
  hint,
  ...select
}: {
  label: string;
  options: readonly (string | { value: string; label: string })[];
  hint?: ReactNode;
} & SelectHTMLAttributes<HTMLSelectElement>) {
  const id = useId();
  return (
    <label htmlFor={id}>
      <span id={`${id}-label`}>{label}</span>
      <select
        id={id}
        aria-labelledby={`${id}-label`}
        aria-describedby={hint ? `${id}-hint` : undefined}
        {...select}
      >
        {options.map((option) => {
          const { value, label: text } =
            typeof option === 'string' ? { value: option, label: option } : option;
          return (
            <option key={value} value={value}>
              {text}
            </option>
          );
        })}
      </select>
      {hint ? <small id={`${id}-hint`}>{hint}</small> : null}
    </label>
  );
}

/** A form value as a string, or undefined when left empty (so optional fields are omitted). */
export function optional(form: FormData, name: string): string | undefined {
  const value = form.get(name);
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

export function required(form: FormData, name: string): string {
  return optional(form, name) ?? '';
}
