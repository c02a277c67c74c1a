// Errors shown where they belong: the envelope's message beside the field that
// details.field names (aria-invalid + aria-describedby), and in an alert for the form.
import { useId, type ReactNode } from "react";
import { ApiError } from "../api/client";
import { money } from "./format";

/** The message of the error for the field `name` (its API name), if it names that field. */
export function fieldError(error: unknown, name: string): string | undefined {
  if (!(error instanceof ApiError) || !error.field) return undefined;
  const f = error.field.replace(/^\//, "").replace(/\//g, ".");
  return f === name || f.startsWith(`${name}.`) || f.startsWith(`${name}[`) ? error.message : undefined;
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  const d = error instanceof ApiError ? error.details : {};
  const balance = typeof d.balanceCents === "number" ? d.balanceCents : undefined;
  const required = typeof d.requiredCents === "number" ? d.requiredCents : undefined;
  return (
    <div role="alert" className="error">
      <p>{message}</p>
      {balance !== undefined && (
        <p>
          Your balance is {money(balance)}
          {required !== undefined && <>; this needs {money(required)}</>}. <a href="#/billing">See billing</a>
        </p>
      )}
    </div>
  );
}

interface FieldProps {
  label: string;
  /** The request field this input fills (matched against details.field). */
  name: string;
  error?: unknown;
  hint?: ReactNode;
  children: (props: { id: string; name: string; "aria-invalid"?: true; "aria-describedby"?: string }) => ReactNode;
}

export function Field({ label, name, error, hint, children }: FieldProps) {
  const id = useId();
  const message = fieldError(error, name);
  const described = [hint ? `${id}-hint` : "", message ? `${id}-error` : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children({ id, name, ...(message ? { "aria-invalid": true as const } : {}), "aria-describedby": described })}
      {hint && <small id={`${id}-hint`}>{hint}</small>}
      {message && (
        <small id={`${id}-error`} className="field-error">
          {message}
        </small>
      )}
    </div>
  );
}
