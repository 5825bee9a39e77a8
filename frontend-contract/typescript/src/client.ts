/**
 * `WorkflowClient`: one object a frontend keeps: a session (login, refresh), the HTTP executor
 * and the live feeds, wired so that every request and every socket carries a fresh token.
 */
import { Session, type Tokens } from "./auth.js";
import { HttpExecutor, type Document, type VariablesOf } from "./http.js";
import { Subscriptions, toWebSocketUrl, type SubscriptionOptions } from "./subscriptions.js";

export interface WorkflowClientOptions {
  /** The GraphQL endpoint: `http://localhost:8080/graphql`, or `/graphql` in a browser. */
  url: string;
  /** The websocket endpoint (default: `url` with ws:// or wss://). */
  wsUrl?: string;
  /** Tokens kept from before (e.g. sessionStorage); `onTokens` is told of every change. */
  tokens?: Tokens | null;
  onTokens?: (tokens: Tokens | null) => void;
  fetch?: typeof fetch;
  /** The WebSocket class where there is no global one (Node 20: the `ws` package). */
  webSocketImpl?: unknown;
  retry?: SubscriptionOptions["retry"];
  keepAliveMs?: number;
  onStatus?: SubscriptionOptions["onStatus"];
}

export class WorkflowClient {
  readonly http: HttpExecutor;
  readonly session: Session;
  readonly live: Subscriptions;

  constructor(options: WorkflowClientOptions) {
    // The executor asks the session for its token at each request; the session logs in and
    // refreshes through the same endpoint without a token (HttpExecutor.anonymous).
    this.http = new HttpExecutor({
      url: options.url,
      token: () => this.session.accessToken(),
      onUnauthorized: () => renew(),
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    this.session = new Session(this.http, options.tokens ?? null, {
      ...(options.onTokens ? { onTokens: options.onTokens } : {}),
    });
    const renew = async (): Promise<boolean> => {
      if (this.session.current === null) {
        return false;
      }
      try {
        await this.session.refresh();
        return true;
      } catch {
        return false; // the refresh token is spent or revoked: log in again
      }
    };
    this.live = new Subscriptions({
      url: options.wsUrl ?? toWebSocketUrl(options.url),
      token: this.session.accessToken,
      onTokenRejected: renew,
      webSocketImpl: options.webSocketImpl,
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.keepAliveMs === undefined ? {} : { keepAliveMs: options.keepAliveMs }),
      ...(options.onStatus ? { onStatus: options.onStatus } : {}),
    });
  }

  /** Log in (throws `ResultError` with code `invalid_credentials`... when refused). */
  login(username: string, password: string): Promise<Tokens> {
    return this.session.login(username, password);
  }

  /** End the session on the server and forget the tokens. */
  logout(): Promise<void> {
    return this.session.logout();
  }

  /** Run a typed document; the typed `data`, or a thrown `GraphQLRequestError`. */
  request<TResult, TVariables>(
    document: Document<TResult, TVariables>,
    ...args: VariablesOf<TVariables>
  ): Promise<TResult> {
    return this.http.request(document, ...args);
  }

  /** Close the websocket (end every feed). */
  dispose(): Promise<void> {
    return this.live.dispose();
  }
}

export function createWorkflowClient(options: WorkflowClientOptions): WorkflowClient {
  return new WorkflowClient(options);
}
