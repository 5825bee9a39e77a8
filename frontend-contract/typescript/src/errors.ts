/**
 * Errors, in the two forms the server gives them:
 *
 * - a request that failed as a whole (HTTP 400/401/5xx, or GraphQL `errors`): `GraphQLRequestError`,
 *   with the server's stable `extensions.code` (`unauthenticated`, `forbidden`, `token_expired`...);
 * - an expected failure of a mutation, returned as a member of its result union
 *   (`ValidationFailed`, `NotFoundError`, `ConflictError`, `AuthFailed`): `ResultError` when
 *   `expectResult` is asked for the success member.
 */

/** One entry of a GraphQL response's `errors`. */
export interface GraphQLErrorEntry {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: { code?: string; [key: string]: unknown };
}

/** The request failed as a whole: transport, HTTP status, or GraphQL errors. */
export class GraphQLRequestError extends Error {
  override readonly name = "GraphQLRequestError";
  /** The first error's `extensions.code` (e.g. `token_expired`), or `http_<status>`. */
  readonly code: string;

  constructor(
    message: string,
    readonly status: number | null,
    readonly errors: ReadonlyArray<GraphQLErrorEntry>,
    readonly data: unknown = null,
  ) {
    super(message);
    const first = errors.find((e) => typeof e.extensions?.code === "string");
    this.code = first?.extensions?.code ?? (status === null ? "network" : `http_${status}`);
  }

  static of(status: number | null, errors: ReadonlyArray<GraphQLErrorEntry>, data: unknown = null) {
    const message = errors.map((e) => e.message).join("; ") || `HTTP ${status ?? "error"}`;
    return new GraphQLRequestError(message, status, errors, data);
  }
}

/** A problem of a `ValidationFailed`, at its JSON path (e.g. `$.steps[1].next`). */
export interface Problem {
  path: string;
  code: string;
  message: string;
}

/** The failure members of the result unions (what `__typename` says, and what they carry). */
export type FailureTypename = "ValidationFailed" | "NotFoundError" | "ConflictError" | "AuthFailed";

/** Any failure member, as the contract's operations select it. */
export interface Failure {
  __typename: FailureTypename;
  message: string;
  code?: string;
  kind?: string;
  problems?: ReadonlyArray<Problem>;
  retryAfter?: number | null;
}

/** A mutation answered with a failure member of its result union. */
export class ResultError extends Error {
  override readonly name = "ResultError";
  /** `code` of ValidationFailed / ConflictError / AuthFailed; `not_found` for NotFoundError. */
  readonly code: string;
  readonly problems: ReadonlyArray<Problem>;

  constructor(readonly failure: Failure) {
    super(failure.message);
    this.code = failure.code ?? (failure.__typename === "NotFoundError" ? "not_found" : "error");
    this.problems = failure.problems ?? [];
  }

  get typename(): FailureTypename {
    return this.failure.__typename;
  }
}

const FAILURES: ReadonlySet<string> = new Set<FailureTypename>([
  "ValidationFailed",
  "NotFoundError",
  "ConflictError",
  "AuthFailed",
]);

/** Whether a union member is one of the failure types. */
export function isFailure(value: { __typename?: string }): value is Failure {
  return value.__typename !== undefined && FAILURES.has(value.__typename);
}

/**
 * The success member of a result union, or a `ResultError` thrown for a failure member:
 *
 *     const { instance } = expectResult(data.startInstance, "InstanceSuccess");
 */
export function expectResult<
  TUnion extends { __typename?: string },
  TName extends NonNullable<TUnion["__typename"]>,
>(result: TUnion, typename: TName): Extract<TUnion, { __typename?: TName }> {
  if (result.__typename === typename) {
    return result as Extract<TUnion, { __typename?: TName }>;
  }
  if (isFailure(result)) {
    throw new ResultError(result);
  }
  throw new ResultError({
    __typename: "ConflictError",
    message: `expected ${typename}, got ${String(result.__typename)}`,
    code: "unexpected_result",
  });
}
