/**
 * Live feeds over a websocket (`graphql-transport-ws`, the `graphql-ws` library).
 *
 * The access token travels in the `connection_init` payload (`{"Authorization": "Bearer ..."}`):
 * browsers cannot set headers on a websocket handshake. The server closes a socket with 4403
 * when its token expires or its session ends; a token cannot be renewed on an open socket, so
 * the client gets a fresh token (`onTokenRejected`, e.g. `Session.refresh`) and reconnects.
 *
 * `resumable` feeds survive disconnects: each keeps the cursor of the last event it delivered
 * and subscribes again with it (`instanceEvents(afterSeq)`, `instanceChanges(after)`), so
 * nothing is missed and nothing is delivered twice. docs/subscriptions.md says why this holds.
 */
import { createClient, type Client } from "graphql-ws";

import { GraphQLRequestError, type GraphQLErrorEntry } from "./errors.js";
import {
  InstanceChangesDocument,
  InstanceEventsDocument,
  type InstanceChangeFilter,
  type InstanceChangesSubscription,
  type InstanceEventsSubscription,
} from "./gql/graphql.js";
import { resolveToken, type Document, type TokenSource } from "./http.js";

/** The websocket close code of a refused or expired token (strawberry's 4403 Forbidden). */
export const CLOSE_FORBIDDEN = 4403;

export interface SubscriptionOptions {
  /** `ws://host:port/graphql` (see `toWebSocketUrl`). */
  url: string;
  token?: TokenSource;
  /** The WebSocket class where there is no global one (Node 20: `import WebSocket from "ws"`). */
  webSocketImpl?: unknown;
  /** After a 4403 close: get a fresh token and return true to reconnect (false: give up). */
  onTokenRejected?: () => Promise<boolean>;
  /** Backoff between reconnects: first delay, cap (ms), and attempts before giving up. */
  retry?: { initialDelayMs?: number; maxDelayMs?: number; maxAttempts?: number };
  /** Ping the server this often (ms) so that a dead connection is noticed (0: never). */
  keepAliveMs?: number;
  /** Told when the connection state changes (a status line in a UI). */
  onStatus?: (status: ConnectionStatus) => void;
}

export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "closed";

export interface Sink<T> {
  next: (value: T) => void;
  error?: (error: unknown) => void;
  complete?: () => void;
}

/** A running feed: `cancel()` stops it; `cursor` is the last position delivered. */
export interface Feed<TCursor> {
  cancel: () => void;
  readonly cursor: TCursor | undefined;
}

export interface ResumableSpec<TResult, TVariables, TCursor> {
  /** The variables for a (re)subscription from the last cursor (undefined at first). */
  variables: (cursor: TCursor | undefined) => TVariables;
  /** The cursor of a delivered result. */
  cursorOf: (result: TResult) => TCursor;
  /** Start after this cursor (e.g. a seq already shown). */
  initialCursor?: TCursor;
}

/** `http(s)://host/graphql` → `ws(s)://host/graphql`; a relative URL is resolved against the
 * page's location in a browser. */
export function toWebSocketUrl(httpUrl: string): string {
  const location = (globalThis as { location?: { href: string } }).location;
  const absolute = location ? new URL(httpUrl, location.href) : new URL(httpUrl);
  absolute.protocol = absolute.protocol === "https:" ? "wss:" : "ws:";
  return absolute.toString();
}

function closeCode(error: unknown): number | null {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "number" ? code : null;
  }
  return null;
}

function graphQLErrors(error: unknown): GraphQLErrorEntry[] | null {
  return Array.isArray(error) ? (error as GraphQLErrorEntry[]) : null;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Subscriptions {
  private readonly client: Client;

  constructor(private readonly options: SubscriptionOptions) {
    const status = options.onStatus;
    this.client = createClient({
      url: options.url,
      lazy: true,
      // Reconnects are ours (resumable: with the cursor, not the first variables again).
      retryAttempts: 0,
      keepAlive: options.keepAliveMs ?? 10_000,
      webSocketImpl: options.webSocketImpl,
      connectionParams: async () => {
        const token = await resolveToken(options.token);
        return token ? { Authorization: `Bearer ${token}` } : {};
      },
      on: {
        connecting: () => status?.("connecting"),
        connected: () => status?.("connected"),
        closed: () => status?.("closed"),
      },
    });
  }

  /** One subscription, not resumed: it ends with the first error (a closed socket too). */
  subscribe<TResult, TVariables>(
    document: Document<TResult, TVariables>,
    variables: TVariables,
    sink: Sink<TResult>,
  ): () => void {
    return this.client.subscribe<TResult>(
      { query: document.toString(), variables: variables as Record<string, unknown> },
      {
        next: (result) => {
          if (result.errors?.length) {
            sink.error?.(GraphQLRequestError.of(null, result.errors as GraphQLErrorEntry[]));
          } else if (result.data != null) {
            sink.next(result.data);
          }
        },
        error: (error) => sink.error?.(this.asError(error)),
        complete: () => sink.complete?.(),
      },
    );
  }

  /**
   * A subscription that reconnects by itself and resumes from the last cursor it delivered.
   * It ends when the server completes the stream, on a GraphQL error other than
   * `subscriber_too_slow` (e.g. `not_found`, `forbidden`), or when reconnecting gives up.
   */
  resumable<TResult, TVariables, TCursor>(
    document: Document<TResult, TVariables>,
    spec: ResumableSpec<TResult, TVariables, TCursor>,
    sink: Sink<TResult>,
  ): Feed<TCursor> {
    const retry = this.options.retry ?? {};
    const initialDelay = retry.initialDelayMs ?? 250;
    const maxDelay = retry.maxDelayMs ?? 10_000;
    const maxAttempts = retry.maxAttempts ?? Number.POSITIVE_INFINITY;
    let cursor = spec.initialCursor;
    let cancelled = false;
    let stop: (() => void) | null = null;
    let attempts = 0;

    const finish = (error?: unknown) => {
      cancelled = true;
      if (error === undefined) {
        sink.complete?.();
      } else {
        sink.error?.(this.asError(error));
      }
    };

    const retryAfter = async (error: unknown) => {
      stop = null;
      if (cancelled) {
        return;
      }
      const errors = graphQLErrors(error);
      if (errors !== null) {
        // A GraphQL error ends the stream, except a cut-off slow subscriber: resume at once.
        if (!errors.some((e) => e.extensions?.code === "subscriber_too_slow")) {
          finish(GraphQLRequestError.of(null, errors));
          return;
        }
      } else if (closeCode(error) === CLOSE_FORBIDDEN) {
        const renewed = this.options.onTokenRejected ? await this.options.onTokenRejected() : false;
        if (!renewed) {
          finish(error);
          return;
        }
      } else if (closeCode(error) === 4400 || closeCode(error) === 4500) {
        finish(error); // a protocol or server bug: reconnecting would loop
        return;
      }
      attempts += 1;
      if (attempts > maxAttempts) {
        finish(error);
        return;
      }
      this.options.onStatus?.("reconnecting");
      const delay = Math.min(maxDelay, initialDelay * 2 ** (attempts - 1));
      await sleep(delay * (0.5 + Math.random() / 2)); // jitter: not every tab at once
      if (!cancelled) {
        start();
      }
    };

    const start = () => {
      const variables = spec.variables(cursor);
      // An error raised while the stream runs (subscriber_too_slow) comes as a result with
      // `errors`, then `complete`: the completion decides, knowing the errors.
      let failed: GraphQLErrorEntry[] | null = null;
      stop = this.client.subscribe<TResult>(
        { query: document.toString(), variables: variables as Record<string, unknown> },
        {
          next: (result) => {
            if (result.errors?.length) {
              failed = result.errors as GraphQLErrorEntry[];
              return;
            }
            if (result.data != null) {
              attempts = 0;
              cursor = spec.cursorOf(result.data);
              sink.next(result.data);
            }
          },
          error: (error) => void retryAfter(error),
          complete: () => {
            stop = null;
            if (failed !== null) {
              void retryAfter(failed);
            } else if (!cancelled) {
              finish();
            }
          },
        },
      );
    };

    start();
    return {
      cancel: () => {
        cancelled = true;
        stop?.();
      },
      get cursor() {
        return cursor;
      },
    };
  }

  /**
   * One instance's history after `afterSeq` (0: from the start), then its events live,
   * resumed from the last `seq` after a disconnect. Completes after the last event of an
   * ended instance.
   */
  instanceEvents(
    instanceId: number,
    sink: Sink<InstanceEventsSubscription["instanceEvents"]>,
    afterSeq = 0,
  ): Feed<number> {
    return this.resumable(
      InstanceEventsDocument,
      {
        variables: (seq) => ({ instanceId, afterSeq: seq ?? 0 }),
        cursorOf: (data) => data.instanceEvents.seq,
        initialCursor: afterSeq,
      },
      { ...sink, next: (data) => sink.next(data.instanceEvents) },
    );
  }

  /**
   * Instances matching `filter` as they change, resumed from the last `cursor` after a
   * disconnect (the instances changed meanwhile come first, in their current state).
   */
  instanceChanges(
    sink: Sink<InstanceChangesSubscription["instanceChanges"]>,
    filter: InstanceChangeFilter | null = null,
    after?: string,
  ): Feed<string> {
    return this.resumable(
      InstanceChangesDocument,
      {
        variables: (cursor) => ({ filter, after: cursor ?? null }),
        cursorOf: (data) => data.instanceChanges.cursor,
        ...(after === undefined ? {} : { initialCursor: after }),
      },
      { ...sink, next: (data) => sink.next(data.instanceChanges) },
    );
  }

  /** Close the socket and end every subscription. */
  async dispose(): Promise<void> {
    await this.client.dispose();
  }

  private asError(error: unknown): unknown {
    const errors = graphQLErrors(error);
    if (errors !== null) {
      return GraphQLRequestError.of(null, errors);
    }
    const code = closeCode(error);
    if (code !== null) {
      const reason = (error as { reason?: unknown }).reason;
      return new GraphQLRequestError(
        `websocket closed (${code}${typeof reason === "string" && reason ? `: ${reason}` : ""})`,
        null,
        [{ message: String(reason ?? ""), extensions: { code: code === CLOSE_FORBIDDEN ? "forbidden" : `ws_${code}` } }],
      );
    }
    return error;
  }
}
