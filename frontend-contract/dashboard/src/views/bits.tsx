// Small pieces shared by the pages.
import type { ComponentChildren } from "preact";

export function Status({ status }: { status: string }) {
  return <span class={`status status-${status.toLowerCase()}`}>{status.toLowerCase()}</span>;
}

export function When({ at }: { at: string | null | undefined }) {
  if (!at) return null;
  const date = new Date(at);
  return <time dateTime={at} title={at}>{date.toLocaleString()}</time>;
}

export interface Problem {
  path: string;
  code: string;
  message: string;
}

/** A refusal's problems, each at its JSON path. */
export function Problems({ message, problems }: { message: string; problems?: Problem[] }) {
  return (
    <div class="error" role="alert" data-testid="problems">
      <p>{message}</p>
      {problems && problems.length > 0 && (
        <ul>
          {problems.map((p, i) => (
            <li key={i}><code>{p.path}</code> {p.message} <span class="muted">[{p.code}]</span></li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Json({ value }: { value: unknown }) {
  return <pre class="json">{JSON.stringify(value, null, 2)}</pre>;
}

export function Card({ title, children, testid }: { title: string; children: ComponentChildren; testid?: string }) {
  return (
    <section class="card" data-testid={testid}>
      <h3>{title}</h3>
      {children}
    </section>
  );
}

/** The message of a mutation result that is not a success (its union's error members). */
export function refusal(result: { __typename?: string; message?: string }): string {
  return result.message ?? result.__typename ?? "refused";
}
