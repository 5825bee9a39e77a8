// Incidents: running instances with an open incident, its error, and a retry. The contract
// lists incidents through their instances, so this page reads running instances a page at a
// time (PAGE) and shows those with open incidents; "Look further" reads the next page.
import { useEffect, useState } from "preact/hooks";
import { FailingInstancesDocument, RetryIncidentDocument, request, type FailingInstancesQuery } from "../api";
import { href } from "../router";
import { When, refusal } from "./bits";

type Failing = FailingInstancesQuery["instances"]["edges"][number]["node"];
const PAGE = 100;

export function Incidents() {
  const [rows, setRows] = useState<Failing[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [message, setMessage] = useState("");
  const [round, setRound] = useState(0);

  const read = async (after: string | null, keep: Failing[]) => {
    const data = await request(FailingInstancesDocument, { first: PAGE, after });
    const found = data.instances.edges.map((e) => e.node).filter((n) => n.incidents.some((i) => i.status === "open"));
    setRows([...keep, ...found]);
    setNext(data.instances.pageInfo.hasNextPage ? data.instances.pageInfo.endCursor : null);
    setDone(true);
  };

  useEffect(() => {
    void read(null, []);
  }, [round]);

  const retry = async (id: number) => {
    const r = (await request(RetryIncidentDocument, { id })).retryIncident;
    setMessage(r.__typename === "InstanceSuccess" ? `Incident ${id}: retried.` : `Incident ${id}: ${refusal(r)}`);
    setRound((n) => n + 1);
  };

  if (!done) return <p class="muted">Loading…</p>;
  return (
    <section>
      {message && <p class="notice-line">{message}</p>}
      <table class="grid" data-testid="incidents">
        <thead><tr><th>Instance</th><th>Step</th><th>Error</th><th>Since</th><th /></tr></thead>
        <tbody>
          {rows.flatMap((n) =>
            n.incidents.filter((i) => i.status === "open").map((i) => (
              <tr key={i.id}>
                <td><a href={href(`instances/${n.id}`)}>#{n.id}</a> {n.businessKey ?? ""}</td>
                <td><code>{i.stepId}</code></td>
                <td><b>{i.error}</b><div class="muted wrap">{i.message}</div></td>
                <td><When at={i.createdAt} /></td>
                <td><button onClick={() => retry(i.id)}>Retry</button></td>
              </tr>
            )),
          )}
          {rows.length === 0 && <tr><td colSpan={5} class="muted">No open incidents among the instances read.</td></tr>}
        </tbody>
      </table>
      {next && <button onClick={() => read(next, rows)}>Look further</button>}
    </section>
  );
}
