// The dashboard's shell: the login page until there is a session, then the pages by hash route,
// with the connection state of the live feeds in the header.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { currentUser, logIn, logOut, loggedIn, onSessionChange, onStatus, type ConnectionStatus } from "./api";
import "./metrics";
import { href, useRoute } from "./router";
import "./style.css";
import { Definitions } from "./views/Definitions";
import { Incidents } from "./views/Incidents";
import { Instance } from "./views/Instance";
import { Instances } from "./views/Instances";
import { Overview } from "./views/Overview";
import { Tasks } from "./views/Tasks";

function Login() {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError("");
    try {
      await logIn(String(form.get("username")), String(form.get("password")));
    } catch (err) {
      setError((err as Error).message || "refused");
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="login card" onSubmit={submit}>
      <h1>workflow-engine</h1>
      <label>Username <input name="username" autoComplete="username" required autoFocus /></label>
      <label>Password <input name="password" type="password" autoComplete="current-password" required /></label>
      <button type="submit" disabled={busy}>Log in</button>
      {error && <p class="error" role="alert">{error}</p>}
    </form>
  );
}

const PAGES: [string, string][] = [
  ["", "Overview"],
  ["instances", "Instances"],
  ["tasks", "My tasks"],
  ["incidents", "Incidents"],
  ["definitions", "Definitions"],
];

function App() {
  const [, changed] = useState(0);
  const [status, setStatus] = useState<ConnectionStatus>("closed");
  const route = useRoute();
  useEffect(() => onSessionChange(() => changed((n) => n + 1)), []);
  useEffect(() => onStatus(setStatus), []);
  if (!loggedIn()) return <Login />;
  const [page, id] = route.path;
  let body;
  if (page === "instances" && id) body = <Instance key={id} id={Number(id)} />;
  else if (page === "instances") body = <Instances route={route} />;
  else if (page === "tasks") body = <Tasks route={route} />;
  else if (page === "incidents") body = <Incidents route={route} />;
  else if (page === "definitions") body = <Definitions route={route} />;
  else body = <Overview />;
  return (
    <>
      <header class="top">
        <b class="brand">workflow-engine</b>
        <nav>
          {PAGES.map(([path, label]) => (
            <a key={path} href={href(path)} class={(page ?? "") === path ? "active" : ""}>{label}</a>
          ))}
        </nav>
        <span class={`conn conn-${status}`} data-testid="connection" title="live updates">{status === "closed" ? "idle" : status}</span>
        <span class="who">{currentUser()}</span>
        <button class="secondary" onClick={() => void logOut()}>Log out</button>
      </header>
      <main>{body}</main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
