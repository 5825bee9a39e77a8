// Definitions: the latest revision of each key with its versions, the chosen one drawn; deploy
// a JSON file (the server's validation problems are shown at their JSON paths); start one.
import { useEffect, useState } from "preact/hooks";
import {
  DefinitionSourceDocument,
  DefinitionsDocument,
  DeployDefinitionDocument,
  StartInstanceDocument,
  request,
  type DefinitionSourceQuery,
  type DefinitionsQuery,
} from "../api";
import { href, navigate, type Route } from "../router";
import { Diagram } from "./Diagram";
import { Problems, When, refusal, type Problem } from "./bits";

type Definition = DefinitionsQuery["definitions"][number];

function Deploy({ deployed }: { deployed: () => void }) {
  const [text, setText] = useState("");
  const [outcome, setOutcome] = useState<{ ok?: string; message?: string; problems?: Problem[] } | null>(null);
  const send = async (e: Event) => {
    e.preventDefault();
    let definition: unknown;
    try {
      definition = JSON.parse(text);
    } catch (error) {
      setOutcome({ message: `Not JSON: ${(error as Error).message}` });
      return;
    }
    const r = (await request(DeployDefinitionDocument, { definition })).deployDefinition;
    if (r.__typename === "DeployDefinitionSuccess") {
      const d = r.definition;
      setOutcome({ ok: `${d.key} v${d.version} ${r.created ? `deployed as revision ${d.revision}` : "unchanged (identical content)"}` });
      deployed();
    } else setOutcome({ message: refusal(r), problems: r.__typename === "ValidationFailed" ? r.problems : undefined });
  };
  return (
    <form class="card deploy" onSubmit={send} data-testid="deploy">
      <h3>Deploy a definition</h3>
      <input
        type="file"
        accept=".json,application/json"
        aria-label="Definition file"
        onChange={async (e) => {
          const file = (e.currentTarget as HTMLInputElement).files?.[0];
          if (file) setText(await file.text());
        }}
      />
      <textarea rows={6} value={text} placeholder="or paste the JSON here" onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)} />
      <button type="submit" disabled={!text.trim()}>Deploy</button>
      {outcome?.ok && <p class="ok">{outcome.ok}</p>}
      {outcome?.message && <Problems message={outcome.message} problems={outcome.problems} />}
    </form>
  );
}

function Start({ definition }: { definition: NonNullable<DefinitionSourceQuery["definition"]> }) {
  const [businessKey, setBusinessKey] = useState("");
  const [variables, setVariables] = useState("{}");
  const [outcome, setOutcome] = useState<{ message: string; problems?: Problem[] } | null>(null);
  const start = async (e: Event) => {
    e.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(variables || "{}");
    } catch (error) {
      setOutcome({ message: `Variables are not JSON: ${(error as Error).message}` });
      return;
    }
    const r = (await request(StartInstanceDocument, { definitionId: definition.id, businessKey: businessKey || null, variables: parsed })).startInstance;
    if (r.__typename === "InstanceSuccess") navigate(`instances/${r.instance.id}`);
    else setOutcome({ message: refusal(r), problems: r.__typename === "ValidationFailed" ? r.problems : undefined });
  };
  return (
    <form class="card start" onSubmit={start} data-testid="start">
      <h3>Start an instance</h3>
      <input name="businessKey" placeholder="business key" aria-label="Business key" value={businessKey} onInput={(e) => setBusinessKey((e.currentTarget as HTMLInputElement).value)} />
      <textarea name="variables" rows={4} aria-label="Variables (JSON)" value={variables} onInput={(e) => setVariables((e.currentTarget as HTMLTextAreaElement).value)} />
      <button type="submit">Start</button>
      {outcome && <Problems message={outcome.message} problems={outcome.problems} />}
    </form>
  );
}

export function Definitions({ route }: { route: Route }) {
  const chosen = Number(route.query.get("id")) || null;
  const [list, setList] = useState<Definition[] | null>(null);
  const [source, setSource] = useState<DefinitionSourceQuery["definition"] | null>(null);
  const [round, setRound] = useState(0);

  useEffect(() => {
    request(DefinitionsDocument, { latestOnly: true }).then((d) => setList(d.definitions));
  }, [round]);
  useEffect(() => {
    setSource(null);
    if (chosen) request(DefinitionSourceDocument, { id: chosen }).then((d) => setSource(d.definition));
  }, [chosen]);

  return (
    <div>
      <div class="columns">
        <section class="card">
          <h3>Deployed</h3>
          {!list ? <p class="muted">Loading…</p> : (
            <table class="grid" data-testid="definitions">
              <thead><tr><th>Key</th><th>Name</th><th>Versions</th></tr></thead>
              <tbody>
                {list.map((d) => (
                  <tr key={d.id}>
                    <td><a href={href("definitions", { id: d.id })}>{d.key}</a></td>
                    <td>{d.name}</td>
                    <td>
                      {d.versions.map((v) => (
                        <a key={v.id} class={`version ${v.id === chosen ? "selected" : ""}`} href={href("definitions", { id: v.id })} title={v.deployedAt}>
                          v{v.version} (r{v.revision})
                        </a>
                      ))}
                    </td>
                  </tr>
                ))}
                {list.length === 0 && <tr><td colSpan={3} class="muted">Nothing deployed yet.</td></tr>}
              </tbody>
            </table>
          )}
        </section>
        <Deploy deployed={() => setRound((n) => n + 1)} />
      </div>
      {source && (
        <section class="card" data-testid="definition">
          <h3>
            {source.name} <span class="muted">{source.key} v{source.version} · revision {source.revision} · deployed <When at={source.deployedAt} /> by {source.deployedBy ?? "?"}</span>
          </h3>
          <p><a href={href("instances", { key: source.key })}>Its instances</a></p>
          <div class="diagram-box"><Diagram definition={source.definition} current={[]} visited={new Set()} /></div>
          <Start definition={source} />
        </section>
      )}
    </div>
  );
}
