import type { Api } from "../api/client";
import type { Billing as BillingData } from "../api/types";
import { useResource } from "../ui/hooks";
import { ListState } from "../ui/List";
import { money, when } from "../ui/format";

export default function Billing({ api }: { api: Api }) {
  const b = useResource(() => api.call<BillingData>("get-billing", { body: { limit: 50 } }), [api]);
  const top = Math.max(1, ...(b.data?.usage.machines.map((m) => m.cents) ?? []));
  return (
    <section aria-labelledby="billing-h">
      <h1 id="billing-h">Billing</h1>
      <ListState r={b} what="billing" items={() => [1]} empty={null}>
        {(d) => (
          <>
            <p className="balance">Balance <strong>{money(d.balanceCents)}</strong></p>
            <h2>Usage in {d.usage.period}: {money(d.usage.totalCents)}</h2>
            {d.usage.machines.length === 0 ? (
              <p className="empty">No usage this month.</p>
            ) : (
              <ul className="bars" aria-label={`Usage per machine in ${d.usage.period}`}>
                {d.usage.machines.map((m) => (
                  <li key={m.machineId}>
                    <span>{m.name ?? m.machineId}</span>
                    <span className="bar" aria-hidden="true" style={{ width: `${(m.cents / top) * 100}%` }} />
                    <span>{m.hours.toFixed(2)} h · {money(m.cents)}</span>
                  </li>
                ))}
              </ul>
            )}
            <h2>Ledger</h2>
            {d.records.length === 0 ? (
              <p className="empty">No records yet.</p>
            ) : (
              <table aria-label="Ledger">
                <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Amount</th></tr></thead>
                <tbody>
                  {d.records.map((r) => (
                    <tr key={r.id}>
                      <td>{when(r.createdAt)}</td>
                      <td>{r.description}</td>
                      <td>{r.kind === "charge" ? "−" : "+"}{money(r.amountCents)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </>
        )}
      </ListState>
    </section>
  );
}
