// One instance: its definition as a diagram with the current steps highlighted, its variables,
// tasks, incidents, and its history as a timeline that grows live (instanceEvents, resumed from
// the last seq after a reconnect). The timeline keeps its last TIMELINE entries on screen.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import {
  InstanceDetailDocument,
  InstanceEventsDocument,
  RetryIncidentDocument,
  SetVariablesDocument,
  request,
  type InstanceDetailQuery,
} from "../api";
import { Bounded } from "../buffer";
import { useLive } from "../live";
import { recordPainted } from "../metrics";
import { href } from "../router";
import { Card, Json, Problems, Status, When, refusal, type Problem } from "./bits";
import { Diagram } from "./Diagram";

type Detail = NonNullable<InstanceDetailQuery["instance"]>;
interface Entry {
  seq: number;
  type: string;
  stepId: string | null;
  actor: string | null;
  at: string;
  data: unknown;
}
const TIMELINE = 300;

/** The variables, and a form that merges new values into them (setVariables). */
function Variables({ id, variables, running, saved }: { id: number; variables: unknown; running: boolean; saved: () => void }) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState("{}");
  const [refused, setRefused] = useState<{ message: string; problems?: Problem[] } | null>(null);
  const save = async (e: Event) => {
    e.preventDefault();
    let values: unknown;
    try {
      values = JSON.parse(text);
    } catch (error) {
      setRefused({ message: `Not JSON: ${(error as Error).message}` });
      return;
    }
    const r = (await request(SetVariablesDocument, { id, variables: values })).setVariables;
    if (r.__typename === "InstanceSuccess") {
      setEditing(false);
      setRefused(null);
      saved();
    } else setRefused({ message: refusal(r), problems: r.__typename === "ValidationFailed" ? r.problems : undefined });
  };
  return (
    <Card title="Variables" testid="variables">
      <Json value={variables} />
      {running && !editing && (
        <button class="secondary" onClick={() => setEditing(true)} data-testid="edit-variables">Set variables</button>
      )}
      {editing && (
        <form class="start" onSubmit={save}>
          <textarea rows={3} aria-label="Variables to set (JSON, merged)" value={text} onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)} />
          <div class="actions">
            <button type="submit">Save</button>
            <button type="button" class="secondary" onClick={() => setEditing(false)}>Cancel</button>
          </div>
          {refused && <Problems message={refused.message} problems={refused.problems} />}
        </form>
      )}
    </Card>
  );
}
const REFRESH_MS = 250; // at most four detail reads a second, however fast events come

export function Instance({ id }: { id: number }) {
  const [detail, setDetail] = useState<Detail | null | undefined>(undefined);
  const [error, setError] = useState("");
  const timeline = useRef(new Bounded<Entry>(TIMELINE));
  const lastSeq = useRef(0);
  const [, redraw] = useState(0);
  const refresh = useRef<{ timer: number | null; again: boolean }>({ timer: null, again: false });

  // reads may answer out of order under load: only the latest one is shown (an older answer,
  // from before an incident or a step, would otherwise stay on screen with no event to follow)
  const reads = useRef(0);
  const load = () => {
    const mine = ++reads.current;
    return request(InstanceDetailDocument, { id })
      .then((data) => {
        if (mine !== reads.current) return;
        setError(""); // a read that failed while the server was away is over
        setDetail(data.instance);
        if (data.instance && lastSeq.current === 0) {
          timeline.current.clear();
          timeline.current.push(...data.instance.history);
          lastSeq.current = data.instance.history.at(-1)?.seq ?? 0;
        }
      })
      .catch((e: Error) => {
        if (mine === reads.current) setError(e.message);
      });
  };

  // a burst of events asks for one read now and one when it is over, not one per event
  const reload = () => {
    const r = refresh.current;
    if (r.timer !== null) {
      r.again = true;
      return;
    }
    void load();
    r.timer = window.setTimeout(function tick() {
      r.timer = null;
      if (r.again) {
        r.again = false;
        reload();
      }
    }, REFRESH_MS);
  };

  useEffect(() => {
    lastSeq.current = 0;
    timeline.current.clear();
    setDetail(undefined);
    void load();
    return () => {
      if (refresh.current.timer !== null) clearTimeout(refresh.current.timer);
      refresh.current = { timer: null, again: false };
    };
  }, [id]);

  const ready = detail !== undefined;
  useLive(
    InstanceEventsDocument,
    () => ({ instanceId: id, afterSeq: lastSeq.current }),
    (batch) => {
      const fresh = batch.map((m) => m.instanceEvents).filter((e) => e.seq > lastSeq.current);
      if (!fresh.length) return;
      timeline.current.push(...fresh);
      lastSeq.current = fresh[fresh.length - 1].seq;
      redraw((n) => n + 1);
      recordPainted(fresh.map((e) => e.at));
      reload();
    },
    [id],
    () => reload(), // the stream ended with the instance: read its final state
    ready, // from the last seq of the history read first
  );

  const visited = useMemo(
    () => new Set(timeline.current.items.map((e) => e.stepId).filter((s): s is string => !!s)),
    [timeline.current.items.length, lastSeq.current],
  );

  if (detail === undefined) return <p class="muted">Loading…</p>;
  if (detail === null) return <p class="error">No instance {id} (or you may not see it).</p>;
  const entries = timeline.current.items;
  return (
    <section class="instance">
      <header class="title">
        <h2>
          Instance {detail.id} <Status status={detail.status} />
        </h2>
        <p class="muted">
          {detail.definition.name} ({detail.definition.key} v{detail.definition.version}) · {detail.businessKey ?? "no business key"} ·
          started <When at={detail.startedAt} /> by {detail.startedBy ?? "?"}
          {detail.endedAt && <> · ended <When at={detail.endedAt} /></>}
          {detail.parent && <> · sub-process of <a href={href(`instances/${detail.parent.id}`)}>#{detail.parent.id}</a></>}
        </p>
        <p data-testid="current-steps">
          At: {detail.currentSteps.length ? detail.currentSteps.join(", ") : "—"}
        </p>
      </header>
      {error && <p class="error">{error}</p>}
      <div class="diagram-box">
        <Diagram definition={detail.definition.definition} current={detail.currentSteps} visited={visited} />
      </div>
      <div class="columns">
        <Variables id={detail.id} variables={detail.variables} running={detail.status === "RUNNING"} saved={reload} />
        <div>
          <Card title="Tasks">
            <ul class="plain">
              {detail.tasks.map((t) => (
                <li key={t.id}>
                  {t.status === "open" ? <a href={href("tasks", { task: t.id })}>{t.name || t.stepId}</a> : t.name || t.stepId}{" "}
                  <span class="muted">{t.status}{t.assignee ? ` · ${t.assignee}` : ""}{t.completedBy ? ` · by ${t.completedBy}` : ""}</span>
                </li>
              ))}
              {detail.tasks.length === 0 && <li class="muted">none</li>}
            </ul>
          </Card>
          <Card title="Incidents">
            <ul class="plain">
              {detail.incidents.map((i) => (
                <li key={i.id}>
                  <b>{i.stepId}</b>: {i.error} — {i.message} <span class="muted">{i.status}</span>
                  {i.status === "open" && (
                    <button
                      onClick={async () => {
                        const r = (await request(RetryIncidentDocument, { id: i.id })).retryIncident;
                        if (r.__typename !== "InstanceSuccess") setError(refusal(r));
                        reload();
                      }}
                    >Retry</button>
                  )}
                </li>
              ))}
              {detail.incidents.length === 0 && <li class="muted">none</li>}
            </ul>
          </Card>
        </div>
      </div>
      <Card title="History" testid="timeline">
        {timeline.current.dropped > 0 && (
          <p class="muted">{timeline.current.dropped} earlier entries not shown (the last {TIMELINE} are).</p>
        )}
        <ol class="timeline">
          {entries.map((e) => (
            <li key={e.seq} data-seq={e.seq}>
              <span class="seq">{e.seq}</span> <When at={e.at} /> <b>{e.type}</b> {e.stepId && <code>{e.stepId}</code>}
              {e.actor && <span class="muted"> · {e.actor}</span>}
            </li>
          ))}
        </ol>
      </Card>
    </section>
  );
}
