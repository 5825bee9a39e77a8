/**
 * @workflow-engine/client: the typed client of the workflow engine's GraphQL API.
 *
 * - `createWorkflowClient({ url })`: session (login, refresh), `request(XxxDocument, vars)`,
 *   and live feeds (`client.live.instanceEvents(...)`) that reconnect and resume by cursor;
 * - every operation of frontend-contract/operations as a typed document (`XxxDocument`) with
 *   its result and variables types (`XxxQuery`, `XxxMutation`, `XxxSubscription`,
 *   `XxxVariables`), and the schema's input and enum types.
 */
export * from "./gql/graphql.js";
export { graphql } from "./gql/gql.js";
export { login, logout, refresh, Session, type SessionOptions, type Tokens } from "./auth.js";
export { createWorkflowClient, WorkflowClient, type WorkflowClientOptions } from "./client.js";
export {
  expectResult,
  GraphQLRequestError,
  isFailure,
  ResultError,
  type Failure,
  type FailureTypename,
  type GraphQLErrorEntry,
  type Problem,
} from "./errors.js";
export {
  HttpExecutor,
  type Document,
  type ExecutionResult,
  type HttpOptions,
  type RequestOptions,
  type TokenSource,
  type VariablesOf,
} from "./http.js";
export {
  CLOSE_FORBIDDEN,
  Subscriptions,
  toWebSocketUrl,
  type ConnectionStatus,
  type Feed,
  type ResumableSpec,
  type Sink,
  type SubscriptionOptions,
} from "./subscriptions.js";
