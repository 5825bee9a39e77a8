// Live counters: instances by status per definition, open tasks, open incidents
// (the dashboardCounters subscription: a snapshot at once, then a fresh one after changes).
import { useState } from "preact/hooks";
import { DashboardCountersDocument, type DashboardCountersSubscription } from "../api";
import { useLive } from "../live";
import { href } from "../router";

type Counters = DashboardCountersSubscription["dashboardCounters"];

export function Overview() {
  const [counters, setCounters] = useState<Counters | null>(null);
  useLive(DashboardCountersDocument, () => ({}), (batch) => setCounters(batch[batch.length - 1].dashboardCounters), []);
  if (!counters) return <p class="muted">Waiting for the counters…</p>;
  const total = (key: "active" | "completed" | "failed" | "cancelled") =>
    counters.definitions.reduce((sum, d) => sum + d[key], 0);
  return (
    <section>
      <div class="tiles">
        <a class="tile" href={href("instances", { status: "RUNNING" })} data-testid="counter-active">
          <b>{total("active")}</b> active instances
        </a>
        <a class="tile" href={href("tasks")} data-testid="counter-tasks">
          <b>{counters.openTasks}</b> open tasks
        </a>
        <a class={`tile ${counters.openIncidents ? "alarm" : ""}`} href={href("incidents")} data-testid="counter-incidents">
          <b>{counters.openIncidents}</b> open incidents
        </a>
        <a class="tile" href={href("instances", { status: "COMPLETED" })}>
          <b>{total("completed")}</b> completed
        </a>
      </div>
      <table class="grid" data-testid="counters">
        <thead>
          <tr><th>Definition</th><th>Active</th><th>Completed</th><th>Failed</th><th>Cancelled</th></tr>
        </thead>
        <tbody>
          {counters.definitions.map((d) => (
            <tr key={d.definitionKey}>
              <td><a href={href("instances", { key: d.definitionKey })}>{d.definitionKey}</a></td>
              <td>{d.active}</td><td>{d.completed}</td>
              <td class={d.failed ? "bad" : ""}>{d.failed}</td><td>{d.cancelled}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
