import { useCallback, useEffect, useRef, useState } from "react";

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** A read that reloads when `deps` change and, with pollMs, every pollMs while mounted
 * (the local stack has no Realtime: live status is polled). */
export function useResource<T>(load: () => Promise<T>, deps: unknown[], pollMs?: number): Resource<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(load, deps);
  const reload = useCallback(() => {
    const n = ++seq.current;
    run().then(
      (d) => n === seq.current && (setData(d), setError(null), setLoading(false)),
      (e) => n === seq.current && (setError(e), setLoading(false)),
    );
  }, [run]);
  useEffect(() => {
    setLoading(true);
    reload();
    if (!pollMs) return;
    const t = setInterval(reload, pollMs);
    return () => clearInterval(t);
  }, [reload, pollMs]);
  return { data, error, loading, reload };
}

/** An action of a form or a button: [its error, run(call, then?)]. run clears the error,
 * awaits the call, then runs `then` with its result; a failure becomes the error. */
export function useAction(): [unknown, <T>(call: () => Promise<T>, then?: (r: T) => void) => Promise<void>, (e: unknown) => void] {
  const [error, setError] = useState<unknown>(null);
  const run = useCallback(async <T,>(call: () => Promise<T>, then?: (r: T) => void) => {
    setError(null);
    try {
      const r = await call();
      then?.(r);
    } catch (e) {
      setError(e);
    }
  }, []);
  return [error, run, setError];
}
