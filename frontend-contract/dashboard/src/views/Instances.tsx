// Instances: filtered, paged by cursor (a page of 25 at a time, so 10,000 instances cost what
// 25 do), and kept current by instanceChanges: a row on the page changes in place, instances
// that are new to the filter are counted until the user shows them.
import { useEffect, useRef, useState } from "preact/hooks";
import {
  DashboardInstancesDocument,
  DefinitionsDocument,
  InstanceChangesDocument,
  request,
  type DashboardInstancesQuery,
  type InstanceStatus,
} from "../api";
import { useLive } from "../live";
import { recordPainted } from "../metrics";
import { newer, older } from "../paging";
import { href, navigate, type Route } from "../router";
import { Status, When } from "./bits";

type Row = DashboardInstancesQuery["instances"]["edges"][number]["node"] & { changedAt?: string };
const PAGE = 25;
const STATUSES: InstanceStatus[] = ["RUNNING", "SUSPENDED", "COMPLETED", "FAILED", "CANCELLED"];

export function Instances({ route }: { route: Route }) {
  const key = route.query.get("key") ?? "";
  const status = (route.query.get("status") ?? "") as InstanceStatus | "";
  const businessKey = route.query.get("bk") ?? "";
  const after = route.query.get("after") ?? "";
  const back = route.query.get("back") ?? ""; // the previous pages' cursors, comma-separated
  const [rows, setRows] = useState<Row[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  // instances changed (or new) that this page does not show, counted once each
  const outside = useRef(new Set<number>());
  const [fresh, setFresh] = useState(0);
  const [keys, setKeys] = useState<string[]>([]);
  const [error, setError] = useState("");
  const [reload, setReload] = useState(0);

  useEffect(() => {
    request(DefinitionsDocument, { latestOnly: true })
      .then((d) => setKeys(d.definitions.map((x) => x.key)))
      .catch(() => setKeys([]));
  }, []);

  useEffect(() => {
    let live = true;
    setError("");
    const filter = { definitionKey: key || null, status: status || null, businessKey: businessKey || null };
    request(DashboardInstancesDocument, { filter, first: PAGE, after: after || null })
      .then((data) => {
        if (!live) return;
        setRows(data.instances.edges.map((e) => e.node));
        setNext(data.instances.pageInfo.hasNextPage ? data.instances.pageInfo.endCursor : null);
        outside.current.clear();
        setFresh(0);
      })
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [key, status, businessKey, after, reload]);

  // the feed's position for this filter, resumed after a reconnect
  const feed = `${key}|${status}`;
  const cursor = useRef<{ feed: string; after: string } | null>(null);
  useLive(
    InstanceChangesDocument,
    () => ({ filter: { definitionKey: key || null, status: status || null }, after: cursor.current?.feed === feed ? cursor.current.after : null }),
    (batch) => {
      const changes = new Map(batch.map((m) => [m.instanceChanges.instanceId, m.instanceChanges]));
      cursor.current = { feed, after: batch[batch.length - 1].instanceChanges.cursor };
      setRows((current) => {
        if (!current) return current;
        const shown = new Set(current.map((row) => row.id));
        for (const id of changes.keys()) if (!shown.has(id)) outside.current.add(id);
        setFresh(outside.current.size);
        return current.map((row) => {
          const change = changes.get(row.id);
          if (!change) return row;
          return { ...row, status: change.status, endedAt: change.endedAt ?? row.endedAt, changedAt: change.updatedAt };
        });
      });
      recordPainted(batch.map((m) => m.instanceChanges.updatedAt));
    },
    [key, status],
  );

  const go = (query: Record<string, string | null | undefined>) =>
    navigate("instances", { key, status, bk: businessKey, ...query });

  return (
    <section>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          const form = new FormData(e.currentTarget as HTMLFormElement);
          navigate("instances", {
            key: String(form.get("key") ?? ""),
            status: String(form.get("status") ?? ""),
            bk: String(form.get("bk") ?? ""),
          });
        }}
      >
        <select name="key" value={key} aria-label="Definition">
          <option value="">every definition</option>
          {keys.map((k) => <option key={k} value={k}>{k}</option>)}
        </select>
        <select name="status" value={status} aria-label="Status">
          <option value="">every status</option>
          {STATUSES.map((s) => <option key={s} value={s}>{s.toLowerCase()}</option>)}
        </select>
        <input name="bk" value={businessKey} placeholder="business key" aria-label="Business key" />
        <button type="submit">Filter</button>
      </form>
      {fresh > 0 && (
        <button class="notice" onClick={() => (after ? go({}) : setReload((n) => n + 1))} data-testid="fresh">
          {fresh} other instances changed or started: show
        </button>
      )}
      {error && <p class="error">{error}</p>}
      {!rows ? <p class="muted">Loading…</p> : (
        <table class="grid" data-testid="instances">
          <thead>
            <tr><th>#</th><th>Definition</th><th>Business key</th><th>Status</th><th>At</th><th>Started</th><th>Last change</th></tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.id} data-instance={row.id}>
                <td><a href={href(`instances/${row.id}`)}>{row.id}</a></td>
                <td>{row.definition.key} <span class="muted">v{row.definition.version}</span></td>
                <td>{row.businessKey ?? ""}</td>
                <td><Status status={row.status} /></td>
                <td class="steps">{row.currentSteps.join(", ")}</td>
                <td><When at={row.startedAt} /></td>
                <td class="muted">{row.changedAt ? <When at={row.changedAt} /> : ""}</td>
              </tr>
            ))}
            {rows.length === 0 && <tr><td colSpan={7} class="muted">No instances match.</td></tr>}
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
