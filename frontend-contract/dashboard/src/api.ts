// The dashboard's one door to the server: the generated client (@workflow-engine/client) with
// the contract's typed documents. Tokens live in sessionStorage (one tab's login, gone with the
// tab), the access token is refreshed before it expires and after a 401 or a 4403 close, and
// every live feed is resumable: after a reconnect it subscribes again from its last cursor.
import {
  CLOSE_FORBIDDEN,
  HttpExecutor,
  MeDocument,
  Session,
  Subscriptions,
  toWebSocketUrl,
  type ConnectionStatus,
  type Document,
  type Tokens,
  type VariablesOf,
} from "@workflow-engine/client";

export * from "@workflow-engine/client";
export type { Document, ConnectionStatus };
export { CLOSE_FORBIDDEN };

const STORE = "workflow-engine.dashboard.session";
const GRAPHQL = "/graphql"; // the page is served by the API process itself: same origin

function stored(): { tokens: Tokens; username: string } | null {
  try {
    const raw = sessionStorage.getItem(STORE);
    return raw ? (JSON.parse(raw) as { tokens: Tokens; username: string }) : null;
  } catch {
    return null;
  }
}

let username = stored()?.username ?? "";
const listeners = new Set<() => void>();
const statusListeners = new Set<(s: ConnectionStatus) => void>();
let status: ConnectionStatus = "closed";

const http = new HttpExecutor({
  url: GRAPHQL,
  token: () => session.accessToken(),
  onUnauthorized: async () => {
    try {
      await session.refresh();
      return true;
    } catch {
      return false; // the session ended: onTokens(null) sends the user to the login page
    }
  },
});

const session: Session = new Session(http, stored()?.tokens ?? null, {
  onTokens: (tokens) => {
    if (tokens) sessionStorage.setItem(STORE, JSON.stringify({ tokens, username }));
    else {
      sessionStorage.removeItem(STORE);
      username = "";
    }
    listeners.forEach((f) => f());
  },
});

let feeds: Subscriptions | null = null;

function subscriptions(): Subscriptions {
  feeds ??= new Subscriptions({
    url: toWebSocketUrl(GRAPHQL),
    token: () => session.accessToken(),
    onTokenRejected: async () => {
      try {
        await session.refresh();
        return true;
      } catch {
        return false;
      }
    },
    retry: { initialDelayMs: 250, maxDelayMs: 5_000 },
    onStatus: (s) => {
      // between reconnect attempts the socket closes and connects again: the badge keeps
      // saying "reconnecting" until a connection is made
      if (status === "reconnecting" && (s === "closed" || s === "connecting")) return;
      status = s;
      statusListeners.forEach((f) => f(s));
    },
  });
  return feeds;
}

export function loggedIn(): boolean {
  return session.current !== null;
}

export function currentUser(): string {
  return username;
}

export function onSessionChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function onStatus(listener: (s: ConnectionStatus) => void): () => void {
  statusListeners.add(listener);
  listener(status);
  return () => statusListeners.delete(listener);
}

export async function logIn(name: string, password: string): Promise<void> {
  username = name;
  await session.login(name, password);
  const me = await http.request(MeDocument);
  username = me.me?.username ?? name;
  sessionStorage.setItem(STORE, JSON.stringify({ tokens: session.current, username }));
  listeners.forEach((f) => f());
}

export async function logOut(): Promise<void> {
  const open = feeds;
  feeds = null;
  await open?.dispose();
  try {
    await session.logout();
  } catch {
    // the tokens are dropped here whatever the server says
  }
}

export function request<TResult, TVariables>(
  document: Document<TResult, TVariables>,
  ...variables: VariablesOf<TVariables>
): Promise<TResult> {
  return http.request(document, ...variables);
}

/**
 * A resumable live feed: ``variables()`` is asked at every (re)subscription, so it returns the
 * last cursor the caller saw (afterSeq, after). Returns the function that stops it.
 */
export function subscribe<TResult, TVariables>(
  document: Document<TResult, TVariables>,
  variables: () => TVariables,
  next: (data: TResult) => void,
  complete?: () => void,
): () => void {
  const feed = subscriptions().resumable(
    document,
    { variables: () => variables(), cursorOf: () => null },
    { next, complete, error: (e) => console.warn("feed ended", e) },
  );
  return () => feed.cancel();
}
