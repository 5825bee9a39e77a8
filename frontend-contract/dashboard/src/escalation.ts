// Escalations of a task, read from its definition: a timer attached to the task's step that
// leaves it for another step (interrupting, with an action) escalates the task after its
// duration; a task whose step is such a timer's target is itself an escalation.

type Json = Record<string, unknown>;

export interface Escalation {
  timer: string;
  timerName: string;
  to: string;
  toName: string;
  duration: string | null;
  at: Date | null; // when it fires, from the task's creation
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds of "30s", "2h", "1d12h", or an ISO-8601 duration (PT2H); null when unknown. */
export function durationMs(text: string): number | null {
  const simple = text.trim().match(/^(\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/);
  if (simple) {
    let total = 0;
    for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) total += Number(n) * UNITS[unit];
    return total;
  }
  const iso = text.trim().match(/^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i);
  if (iso) {
    const [, d, h, m, s] = iso;
    return (Number(d ?? 0) * 86_400 + Number(h ?? 0) * 3600 + Number(m ?? 0) * 60 + Number(s ?? 0)) * 1000;
  }
  return null;
}

function stepsOf(definition: unknown): Json[] {
  const steps = (definition as Json | null)?.steps;
  return Array.isArray(steps) ? (steps as Json[]) : [];
}

export function escalationsOf(definition: unknown, stepId: string, createdAt: string): Escalation[] {
  const steps = stepsOf(definition);
  const names = new Map(steps.map((s) => [String(s.id), typeof s.name === "string" && s.name ? s.name : String(s.id)]));
  const found: Escalation[] = [];
  for (const step of steps) {
    const config = (step.config ?? {}) as Json;
    if (step.type !== "timer_event" || config.attached_to !== stepId || config.interrupting === false) continue;
    const to = typeof config.action === "string" ? config.action : (Array.isArray(step.next) ? String(step.next[0] ?? "") : String(step.next ?? ""));
    const duration = typeof config.duration === "string" ? config.duration : null;
    const ms = duration ? durationMs(duration) : null;
    const at = ms !== null ? new Date(Date.parse(createdAt) + ms) : typeof config.until === "string" && !config.until.startsWith("$") ? new Date(config.until) : null;
    found.push({ timer: String(step.id), timerName: names.get(String(step.id))!, to, toName: names.get(to) ?? to, duration, at });
  }
  return found;
}

/** The timer whose firing led to this step (the task is an escalation), if any. */
export function escalatedBy(definition: unknown, stepId: string): string | null {
  for (const step of stepsOf(definition)) {
    const config = (step.config ?? {}) as Json;
    if (step.type === "timer_event" && config.attached_to && config.action === stepId) {
      return typeof step.name === "string" && step.name ? step.name : String(step.id);
    }
  }
  return null;
}
