// Every list has a loading, an empty and an error state.
import type { ReactNode } from "react";
import type { Resource } from "./hooks";
import { ErrorNote } from "./Form";

export function ListState<T>({ r, empty, items, children, what }: { r: Resource<T>; what: string; empty: ReactNode; items: (d: T) => unknown[]; children: (d: T) => ReactNode }) {
  if (r.data === undefined) {
    if (r.error)
      return (
        <div>
          <ErrorNote error={r.error} />
          <button type="button" onClick={r.reload}>Retry loading {what}</button>
        </div>
      );
    return <p role="status">Loading {what}…</p>;
  }
  return (
    <>
      {r.error ? <ErrorNote error={r.error} /> : null}
      {items(r.data).length === 0 ? <p className="empty">{empty}</p> : children(r.data)}
    </>
  );
}
