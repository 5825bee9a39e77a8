// My tasks: those assigned to me and those I may claim, kept current by taskChanges; a task's
// page claims it and completes it with its form rendered from the field definitions, with the
// server's problems shown at their fields. Escalations come from the definition's timers.
import { useEffect, useRef, useState } from "preact/hooks";
import {
  ClaimTaskDocument,
  CompleteTaskDocument,
  DashboardInboxDocument,
  DefinitionSourceDocument,
  TaskChangesDocument,
  TaskDetailDocument,
  UnclaimTaskDocument,
  currentUser,
  request,
  type DashboardInboxQuery,
  type TaskDetailQuery,
} from "../api";
import { escalatedBy, escalationsOf } from "../escalation";
import { collect, fieldOfPath, initialValues, type FormFieldDef, type FormValues } from "../form";
import { useLive } from "../live";
import { href, type Route } from "../router";
import { Problems, When, refusal, type Problem } from "./bits";

type InboxTask = DashboardInboxQuery["assigned"]["edges"][number]["node"];
type TaskFull = NonNullable<TaskDetailQuery["task"]>;

const sources = new Map<number, Promise<unknown>>(); // definition JSON by id: immutable, read once

function definitionJson(id: number): Promise<unknown> {
  let source = sources.get(id);
  if (!source) {
    source = request(DefinitionSourceDocument, { id }).then((d) => d.definition?.definition ?? null);
    sources.set(id, source);
  }
  return source;
}

function EscalationNote({ task }: { task: InboxTask }) {
  const [definition, setDefinition] = useState<unknown>(undefined);
  useEffect(() => {
    definitionJson(task.instance.definition.id).then(setDefinition).catch(() => setDefinition(null));
  }, [task.instance.definition.id]);
  if (!definition) return null;
  const by = escalatedBy(definition, task.stepId);
  const next = escalationsOf(definition, task.stepId, task.createdAt);
  const overdue = task.dueAt && Date.parse(task.dueAt) < Date.now();
  return (
    <span class="escalation" data-testid="escalation">
      {by && <span class="badge warn">escalated ({by})</span>}
      {next.map((e) => (
        <span key={e.timer} class="badge" title={e.timerName}>
          escalates to {e.toName}{e.at ? ` at ${e.at.toLocaleString()}` : e.duration ? ` after ${e.duration}` : ""}
        </span>
      ))}
      {overdue && <span class="badge bad">overdue</span>}
    </span>
  );
}

function TaskList({ title, tasks, selected }: { title: string; tasks: InboxTask[]; selected: number | null }) {
  return (
    <section class="card">
      <h3>{title} ({tasks.length})</h3>
      <ul class="tasks">
        {tasks.map((t) => (
          <li key={t.id} class={t.id === selected ? "selected" : ""} data-task={t.id}>
            <a href={href("tasks", { task: t.id })}>{t.name || t.stepId}</a>{" "}
            <span class="muted">
              #{t.instance.id} {t.instance.businessKey ?? ""} · {t.instance.definition.name} · priority {t.priority}
              {t.dueAt && <> · due <When at={t.dueAt} /></>}
              {t.candidateGroups.length > 0 && <> · {t.candidateGroups.join(", ")}</>}
            </span>{" "}
            <EscalationNote task={t} />
          </li>
        ))}
        {tasks.length === 0 && <li class="muted">none</li>}
      </ul>
    </section>
  );
}

function FieldInput({ field, value, set }: { field: FormFieldDef; value: string | boolean; set: (v: string | boolean) => void }) {
  const common = { id: `field-${field.id}`, name: field.id, required: field.required };
  const text = typeof value === "string" ? value : "";
  switch (field.type) {
    case "boolean":
      return <input type="checkbox" {...common} required={false} checked={value === true} onChange={(e) => set((e.currentTarget as HTMLInputElement).checked)} />;
    case "enum":
      return (
        <select {...common} value={text} onChange={(e) => set((e.currentTarget as HTMLSelectElement).value)}>
          <option value="">—</option>
          {field.values.map((v) => <option key={v} value={v}>{v}</option>)}
        </select>
      );
    case "object":
    case "array":
      return <textarea {...common} rows={3} value={text} placeholder={field.type === "array" ? "[ ]" : "{ }"} onInput={(e) => set((e.currentTarget as HTMLTextAreaElement).value)} />;
    default: {
      const type = { number: "number", integer: "number", date: "date", datetime: "datetime-local" }[field.type] ?? "text";
      return <input type={type} step={field.type === "number" ? "any" : undefined} {...common} value={text} onInput={(e) => set((e.currentTarget as HTMLInputElement).value)} />;
    }
  }
}

function TaskPanel({ id, changed, touched }: { id: number; changed: number; touched: () => void }) {
  const [task, setTask] = useState<TaskFull | null | undefined>(undefined);
  const [values, setValues] = useState<FormValues>({});
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [refused, setRefused] = useState<{ message: string; problems?: Problem[] } | null>(null);
  const [done, setDone] = useState("");
  const me = currentUser();

  useEffect(() => {
    request(TaskDetailDocument, { id }).then((d) => {
      setTask(d.task);
      setValues((v) => (Object.keys(v).length ? v : initialValues(d.task?.form ?? [])));
    });
  }, [id, changed]);
  useEffect(() => {
    setValues({});
    setProblems({});
    setRefused(null);
    setDone("");
  }, [id]);

  if (task === undefined) return <p class="muted">Loading task…</p>;
  if (task === null) return <p class="muted">Task {id} is gone (completed, withdrawn, or not yours to see).</p>;
  const mine = task.assignee === me;
  const open = task.status === "open";

  const claim = async (unclaim = false) => {
    const r = unclaim
      ? (await request(UnclaimTaskDocument, { id })).unclaimTask
      : (await request(ClaimTaskDocument, { id })).claimTask;
    if (r.__typename === "TaskSuccess") {
      setTask({ ...task, assignee: r.task.assignee, status: r.task.status });
      touched(); // the lists move it at once, not only when taskChanges says so
    } else setRefused({ message: refusal(r), problems: r.__typename === "ValidationFailed" ? r.problems : undefined });
  };

  const complete = async (e: Event) => {
    e.preventDefault();
    const { variables, problems: local } = collect(task.form, values);
    setProblems(local);
    setRefused(null);
    if (Object.keys(local).length) return;
    const r = (await request(CompleteTaskDocument, { id, variables })).completeTask;
    if (r.__typename === "TaskSuccess") {
      setDone(`Completed by ${r.task.completedBy ?? me}.`);
      setTask({ ...task, status: r.task.status });
      touched();
      return;
    }
    if (r.__typename === "ValidationFailed") {
      const at: Record<string, string> = {};
      const rest: Problem[] = [];
      for (const p of r.problems) {
        const field = fieldOfPath(p.path, task.form);
        if (field) at[field] = p.message;
        else rest.push(p);
      }
      setProblems(at);
      setRefused({ message: r.message, problems: rest });
    } else setRefused({ message: refusal(r) });
  };

  return (
    <section class="card task-panel" data-testid="task-panel">
      <h3>{task.name || task.stepId}</h3>
      <p class="muted">
        <a href={href(`instances/${task.instance.id}`)}>instance #{task.instance.id}</a> {task.instance.businessKey ?? ""} ·{" "}
        {task.status} · {task.assignee ? `assigned to ${task.assignee}` : "unassigned"} · priority {task.priority}
        {task.dueAt && <> · due <When at={task.dueAt} /></>}
      </p>
      {done && <p class="ok" data-testid="task-done">{done}</p>}
      {refused && <Problems message={refused.message} problems={refused.problems} />}
      {open && !mine && <button onClick={() => claim()} data-testid="claim">Claim</button>}
      {open && mine && (
        <form class="task-form" onSubmit={complete}>
          {task.form.map((field) => (
            <div class={`field ${problems[field.id] ? "invalid" : ""}`} key={field.id}>
              <label for={`field-${field.id}`}>{field.label || field.id}{field.required ? " *" : ""}</label>
              <FieldInput field={field} value={values[field.id] ?? ""} set={(v) => setValues({ ...values, [field.id]: v })} />
              {field.description && <small class="muted">{field.description}</small>}
              {problems[field.id] && <small class="error">{problems[field.id]}</small>}
            </div>
          ))}
          {task.form.length === 0 && <p class="muted">This task asks for nothing: complete it.</p>}
          <div class="actions">
            <button type="submit" data-testid="complete">Complete</button>
            <button type="button" class="secondary" onClick={() => claim(true)}>Give back</button>
          </div>
        </form>
      )}
      <details>
        <summary>Instance variables</summary>
        <pre class="json">{JSON.stringify(task.instance.variables, null, 2)}</pre>
      </details>
    </section>
  );
}

export function Tasks({ route }: { route: Route }) {
  const selected = Number(route.query.get("task")) || null;
  const [inbox, setInbox] = useState<DashboardInboxQuery | null>(null);
  const [changed, setChanged] = useState(0);
  const pending = useRef<number | null>(null);

  useEffect(() => {
    request(DashboardInboxDocument, { first: 50 }).then(setInbox);
  }, [changed]);

  useLive(TaskChangesDocument, () => ({}), () => {
    // one re-read per burst (a task change says little a list can show on its own)
    if (pending.current !== null) return;
    pending.current = window.setTimeout(() => {
      pending.current = null;
      setChanged((n) => n + 1);
    }, 150);
  }, []);

  if (!inbox) return <p class="muted">Loading…</p>;
  return (
    <div class="columns">
      <div>
        <TaskList title="Assigned to me" tasks={inbox.assigned.edges.map((e) => e.node)} selected={selected} />
        <TaskList title="I may claim" tasks={inbox.claimable.edges.map((e) => e.node).filter((t) => !t.assignee)} selected={selected} />
      </div>
      {selected ? <TaskPanel id={selected} changed={changed} touched={() => setChanged((n) => n + 1)} /> : <p class="muted">Choose a task.</p>}
    </div>
  );
}
