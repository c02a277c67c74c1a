// A delete that asks first.
import { useState } from "react";

export function DeleteButton({ what, onConfirm }: { what: string; onConfirm: () => void }) {
  const [asking, setAsking] = useState(false);
  if (!asking) return <button type="button" className="danger" onClick={() => setAsking(true)} aria-label={`Delete ${what}`}>Delete</button>;
  return (
    <span role="group" aria-label={`Confirm deleting ${what}`} className="confirm">
      <button type="button" className="danger" onClick={() => (setAsking(false), onConfirm())}>Yes, delete {what}</button>{" "}
      <button type="button" onClick={() => setAsking(false)}>Cancel</button>
    </span>
  );
}
