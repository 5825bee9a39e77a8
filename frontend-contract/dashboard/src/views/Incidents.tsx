// Incidents: the root incident list (IncidentsPage), newest first, filtered by status and
// definition in the URL (#/incidents?status=resolved&key=order-processing), read a page of 25
// at a time by cursor like the instances list, each with its instance and, while open, a retry.
import { useEffect, useState } from "preact/hooks";
import {
  DefinitionsDocument,
  IncidentsPageDocument,
  RetryIncidentDocument,
  request,
  type IncidentStatus,
  type IncidentsPageQuery,
} from "../api";
import { newer, older } from "../paging";
import { href, navigate, type Route } from "../router";
import { Status, When, refusal } from "./bits";

type Row = IncidentsPageQuery["incidents"]["edges"][number]["node"];
const PAGE = 25;
// the URL's status: open unless it says otherwise ("all": every status)
const STATUSES: Record<string, IncidentStatus | null> = { open: "OPEN", resolved: "RESOLVED", all: null };

export function Incidents({ route }: { route: Route }) {
  const status = route.query.get("status") ?? "open";
  const key = route.query.get("key") ?? "";
  const after = route.query.get("after") ?? "";
  const back = route.query.get("back") ?? ""; // the previous pages' cursors, comma-separated
  const [rows, setRows] = useState<Row[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [keys, setKeys] = useState<string[]>([]);
  const [message, setMessage] = useState("");
  const [error, setError] = useState("");
  const [round, setRound] = useState(0);

  useEffect(() => {
    request(DefinitionsDocument, { latestOnly: true })
      .then((d) => setKeys(d.definitions.map((x) => x.key)))
      .catch(() => setKeys([]));
  }, []);

  useEffect(() => {
    let live = true;
    setError("");
    const filter = { status: STATUSES[status] ?? null, definitionKey: key || null };
    request(IncidentsPageDocument, { filter, first: PAGE, after: after || null })
      .then((data) => {
        if (!live) return;
        setRows(data.incidents.edges.map((e) => e.node));
        setNext(data.incidents.pageInfo.hasNextPage ? data.incidents.pageInfo.endCursor : null);
      })
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [status, key, after, round]);

  const retry = async (id: number) => {
    const r = (await request(RetryIncidentDocument, { id })).retryIncident;
    setMessage(r.__typename === "InstanceSuccess" ? `Incident ${id}: retried.` : `Incident ${id}: ${refusal(r)}`);
    setRound((n) => n + 1);
  };

  const go = (query: Record<string, string | null | undefined>) => navigate("incidents", { status, key, ...query });

  return (
    <section>
      <form
        class="filters"
        data-testid="incident-filters"
        onSubmit={(e) => {
          e.preventDefault();
          const form = new FormData(e.currentTarget as HTMLFormElement);
          navigate("incidents", { status: String(form.get("status") ?? ""), key: String(form.get("key") ?? "") });
        }}
      >
        <select name="status" value={status} aria-label="Status">
          <option value="open">open</option>
          <option value="resolved">resolved</option>
          <option value="all">every status</option>
        </select>
        <select name="key" value={key} aria-label="Definition">
          <option value="">every definition</option>
          {keys.map((k) => <option key={k} value={k}>{k}</option>)}
        </select>
        <button type="submit">Filter</button>
      </form>
      {message && <p class="notice-line">{message}</p>}
      {error && <p class="error">{error}</p>}
      {!rows ? <p class="muted">Loading…</p> : (
        <table class="grid" data-testid="incidents">
          <thead><tr><th>Instance</th><th>Definition</th><th>Step</th><th>Error</th><th>Raised</th><th /></tr></thead>
          <tbody>
            {rows.map((i) => (
              <tr key={i.id} data-incident={i.id}>
                <td>
                  <a href={href(`instances/${i.instance.id}`)}>#{i.instance.id}</a> {i.instance.businessKey ?? ""}{" "}
                  <Status status={i.instance.status} />
                </td>
                <td>{i.instance.definitionKey}</td>
                <td><code>{i.stepId}</code></td>
                <td><b>{i.error}</b><div class="muted wrap">{i.message}</div></td>
                <td>
                  <When at={i.createdAt} />
                  {i.resolvedAt && <div class="muted">resolved <When at={i.resolvedAt} /></div>}
                </td>
                <td>{i.status === "open" && <button onClick={() => retry(i.id)}>Retry</button>}</td>
              </tr>
            ))}
            {rows.length === 0 && <tr><td colSpan={6} class="muted">No incidents match.</td></tr>}
          </tbody>
        </table>
      )}
      <nav class="pager">
        <button disabled={!after} onClick={() => go(newer({ after, back }))}>‹ Newer</button>
        <button disabled={!next} onClick={() => next && go(older({ after, back }, next))}>Older ›</button>
      </nav>
    </section>
  );
}
