/**
 * The HTTP executor: runs a typed document (`XxxDocument` of ./gql) as a POST to `/graphql`
 * with the bearer token, and returns its typed `data`.
 */
import type { DocumentTypeDecoration } from "@graphql-typed-document-node/core";

import { GraphQLRequestError, type GraphQLErrorEntry } from "./errors.js";

/** A typed document: the generated `XxxDocument` constants (strings that carry their types). */
export type Document<TResult, TVariables> = DocumentTypeDecoration<TResult, TVariables> & {
  toString(): string;
};

export interface RequestOptions {
  signal?: AbortSignal;
}

/** The arguments after the document: variables (optional when none is required), options. */
export type VariablesOf<TVariables> =
  Record<string, never> extends TVariables
    ? [variables?: TVariables, options?: RequestOptions]
    : [variables: TVariables, options?: RequestOptions];

/** Where the access token comes from: a string, or a function (may refresh, may be async). */
export type TokenSource = string | null | (() => string | null | Promise<string | null>);

export interface HttpOptions {
  /** The GraphQL endpoint, e.g. `http://localhost:8080/graphql` or `/graphql` in a browser. */
  url: string;
  token?: TokenSource;
  /** `fetch` to use (default: the global one; Node 18+ and browsers have it). */
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  /**
   * Called once when the server answers 401 (`token_expired`, `token_revoked`...): return true
   * after getting a fresh token (e.g. `Session.refresh`) and the request is sent again.
   */
  onUnauthorized?: (error: GraphQLRequestError) => Promise<boolean>;
}

/** A GraphQL response as the server sends it. */
export interface ExecutionResult<TResult> {
  data?: TResult | null;
  errors?: GraphQLErrorEntry[];
}

export async function resolveToken(source: TokenSource | undefined): Promise<string | null> {
  if (typeof source === "function") {
    return await source();
  }
  return source ?? null;
}

export class HttpExecutor {
  constructor(readonly options: HttpOptions) {}

  /** The same endpoint without a token: login and refresh must not send a stale one (the
   * server refuses a request whose token expired with 401, even for `login`). */
  anonymous(): HttpExecutor {
    const { token: _token, onUnauthorized: _retry, ...rest } = this.options;
    return new HttpExecutor(rest);
  }

  /** The typed `data`; throws `GraphQLRequestError` for any error (status or `errors`). */
  async request<TResult, TVariables>(
    document: Document<TResult, TVariables>,
    ...args: VariablesOf<TVariables>
  ): Promise<TResult> {
    const [variables, options] = args as [TVariables | undefined, RequestOptions | undefined];
    const result = await this.execute(document, variables, options);
    if (result.errors?.length || result.data == null) {
      throw GraphQLRequestError.of(200, result.errors ?? [], result.data ?? null);
    }
    return result.data;
  }

  /** The whole response (partial `data` with `errors` included); throws only when the
   * request failed as a whole (network, HTTP status other than 200). */
  async execute<TResult, TVariables>(
    document: Document<TResult, TVariables>,
    variables?: TVariables,
    options: RequestOptions = {},
  ): Promise<ExecutionResult<TResult>> {
    try {
      return await this.send(document, variables, options);
    } catch (error) {
      const retry =
        error instanceof GraphQLRequestError &&
        error.status === 401 &&
        this.options.onUnauthorized !== undefined &&
        (await this.options.onUnauthorized(error));
      if (!retry) {
        throw error;
      }
      return await this.send(document, variables, options);
    }
  }

  private async send<TResult, TVariables>(
    document: Document<TResult, TVariables>,
    variables: TVariables | undefined,
    options: RequestOptions,
  ): Promise<ExecutionResult<TResult>> {
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      Accept: "application/graphql-response+json, application/json;q=0.9",
      ...this.options.headers,
    };
    const token = await resolveToken(this.options.token);
    if (token) {
      headers["Authorization"] = `Bearer ${token}`;
    }
    const doFetch = this.options.fetch ?? globalThis.fetch;
    let response: Response;
    try {
      response = await doFetch(this.options.url, {
        method: "POST",
        headers,
        body: JSON.stringify({ query: document.toString(), variables: variables ?? {} }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      throw new GraphQLRequestError(
        `request to ${this.options.url} failed: ${String(error)}`,
        null,
        [],
      );
    }
    let body: ExecutionResult<TResult> | null = null;
    try {
      body = (await response.json()) as ExecutionResult<TResult>;
    } catch {
      body = null; // a proxy's HTML error page, an empty 502...
    }
    if (!response.ok) {
      throw GraphQLRequestError.of(response.status, body?.errors ?? [], body?.data ?? null);
    }
    if (body === null) {
      throw GraphQLRequestError.of(response.status, [
        { message: "the response is not JSON", extensions: { code: "bad_response" } },
      ]);
    }
    return body;
  }
}
