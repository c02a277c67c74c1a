// A small SVG line chart (no charting library: the first load stays small).
export function Chart({ label, points, max = 100, unit = "%" }: { label: string; points: { t: string; v: number | null }[]; max?: number; unit?: string }) {
  const w = 320, h = 100;
  const vals = points.filter((p) => p.v !== null) as { t: string; v: number }[];
  const top = Math.max(max, ...vals.map((p) => p.v));
  const x = (i: number) => (points.length <= 1 ? w / 2 : (i / (points.length - 1)) * w);
  const y = (v: number) => h - (v / (top || 1)) * h;
  const d = points.map((p, i) => (p.v === null ? "" : `${x(i)},${y(p.v)}`)).filter(Boolean).join(" ");
  const last = vals.at(-1)?.v;
  const summary = vals.length ? `${label}: ${vals.length} samples, latest ${last?.toFixed(1)}${unit}` : `${label}: no samples yet`;
  return (
    <figure className="chart">
      <figcaption>{summary}</figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={summary} preserveAspectRatio="none">
        <rect x="0" y="0" width={w} height={h} className="chart-bg" />
        {vals.length > 0 && <polyline points={d} className="chart-line" />}
        {vals.length === 1 && <circle cx={x(points.findIndex((p) => p.v !== null))} cy={y(vals[0].v)} r="3" className="chart-dot" />}
      </svg>
    </figure>
  );
}
