/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
/** A topic a worker serves, and how long its jobs stay locked. */
export type ExternalTopicInput = {
  /** Milliseconds, up to a day; a longer job extends its lock. */
  lockDurationMs: number;
  topicName: string;
};

/** Which incidents: each condition given must hold. */
export type IncidentFilter = {
  /** The key of the definition the incident's instance runs. */
  definitionKey?: string | null | undefined;
  /** The incident's error, a stable code: job_failed (a handler failed), unhandled_error (a business error no boundary catches: its message names the code), expression_failed, child_failed... */
  error?: string | null | undefined;
  /** OPEN or RESOLVED; null: both. */
  status?: IncidentStatus | null | undefined;
  /** The step that failed. */
  stepId?: string | null | undefined;
};

/** An incident's status: OPEN (waits for a retry) or RESOLVED. */
export type IncidentStatus =
  | 'OPEN'
  | 'RESOLVED';

/** Which instances instanceChanges reports (all when empty). */
export type InstanceChangeFilter = {
  definitionKey?: string | null | undefined;
  status?: InstanceStatus | null | undefined;
};

export type InstanceFilterInput = {
  businessKey?: string | null | undefined;
  definitionId?: number | null | undefined;
  definitionKey?: string | null | undefined;
  startedAfter?: string | null | undefined;
  startedBefore?: string | null | undefined;
  status?: InstanceStatus | null | undefined;
  /** Variables with these values, e.g. {"region": "EU"}. */
  variablesEqual?: unknown;
  /** A step with open work: a task, job, timer or message wait. */
  waitingAt?: string | null | undefined;
};

/** The order of an instance list: STARTED (most recently started first), UPDATED (most recently changed first). */
export type InstanceOrder =
  | 'STARTED'
  | 'UPDATED';

export type InstanceStatus =
  | 'CANCELLED'
  | 'COMPLETED'
  | 'FAILED'
  | 'RUNNING'
  | 'SUSPENDED';

export type LoginMutationVariables = Exact<{
  username: string;
  password: string;
}>;


export type LoginMutation = { login:
    | { __typename: 'AuthFailed', message: string, code: string, retryAfter: number | null }
    | { __typename: 'AuthTokens', accessToken: string, refreshToken: string, expiresIn: number, tokenType: string }
   };

export type RefreshTokenMutationVariables = Exact<{
  refreshToken: string;
}>;


export type RefreshTokenMutation = { refreshToken:
    | { __typename: 'AuthFailed', message: string, code: string, retryAfter: number | null }
    | { __typename: 'AuthTokens', accessToken: string, refreshToken: string, expiresIn: number, tokenType: string }
   };

export type LogoutMutationVariables = Exact<{
  refreshToken: string;
}>;


export type LogoutMutation = { logout:
    | { __typename: 'AuthFailed', message: string, code: string, retryAfter: number | null }
    | { __typename: 'LoggedOut', ok: boolean }
   };

export type MeQueryVariables = Exact<{ [key: string]: never; }>;


export type MeQuery = { me: { username: string, roles: Array<string>, groups: Array<string>, permissions: Array<string> } | null };

type AuthResultFields_AuthFailed_Fragment = { __typename: 'AuthFailed', message: string, code: string, retryAfter: number | null };

type AuthResultFields_AuthTokens_Fragment = { __typename: 'AuthTokens', accessToken: string, refreshToken: string, expiresIn: number, tokenType: string };

export type AuthResultFieldsFragment =
  | AuthResultFields_AuthFailed_Fragment
  | AuthResultFields_AuthTokens_Fragment
;

export type ClaimTaskMutationVariables = Exact<{
  id: number;
}>;


export type ClaimTaskMutation = { claimTask:
    | { __typename: 'ConflictError', message: string, code: string }
    | { __typename: 'NotFoundError', message: string, kind: string }
    | { __typename: 'TaskSuccess', task: { id: number, status: string, assignee: string | null } }
    | { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> }
   };

export type UnclaimTaskMutationVariables = Exact<{
  id: number;
}>;


export type UnclaimTaskMutation = { unclaimTask:
    | { __typename: 'ConflictError', message: string, code: string }
    | { __typename: 'NotFoundError', message: string, kind: string }
    | { __typename: 'TaskSuccess', task: { id: number, status: string, assignee: string | null } }
    | { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> }
   };

type TaskResultFields_ConflictError_Fragment = { __typename: 'ConflictError', message: string, code: string };

type TaskResultFields_NotFoundError_Fragment = { __typename: 'NotFoundError', message: string, kind: string };

type TaskResultFields_TaskSuccess_Fragment = { __typename: 'TaskSuccess', task: { id: number, status: string, assignee: string | null } };

type TaskResultFields_ValidationFailed_Fragment = { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> };

export type TaskResultFieldsFragment =
  | TaskResultFields_ConflictError_Fragment
  | TaskResultFields_NotFoundError_Fragment
  | TaskResultFields_TaskSuccess_Fragment
  | TaskResultFields_ValidationFailed_Fragment
;

export type CompleteTaskMutationVariables = Exact<{
  id: number;
  variables?: unknown;
}>;


export type CompleteTaskMutation = { completeTask:
    | { __typename: 'ConflictError', message: string, code: string }
    | { __typename: 'NotFoundError', message: string, kind: string }
    | { __typename: 'TaskSuccess', task: { id: number, status: string, completedAt: string | null, completedBy: string | null } }
    | { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> }
   };

export type DashboardInboxQueryVariables = Exact<{
  first?: number;
  after?: string | null | undefined;
  claimableAfter?: string | null | undefined;
}>;


export type DashboardInboxQuery = { assigned: { edges: Array<{ cursor: string, node: { id: number, name: string, stepId: string, status: string, assignee: string | null, candidateUsers: Array<string>, candidateGroups: Array<string>, dueAt: string | null, priority: number, createdAt: string, instance: { id: number, businessKey: string | null, definition: { id: number, key: string, name: string } } } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } }, claimable: { edges: Array<{ cursor: string, node: { id: number, name: string, stepId: string, status: string, assignee: string | null, candidateUsers: Array<string>, candidateGroups: Array<string>, dueAt: string | null, priority: number, createdAt: string, instance: { id: number, businessKey: string | null, definition: { id: number, key: string, name: string } } } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type DefinitionSourceQueryVariables = Exact<{
  id: number;
}>;


export type DefinitionSourceQuery = { definition: { id: number, key: string, name: string, version: string, revision: number, deployedAt: string, deployedBy: string | null, definition: unknown } | null };

export type DashboardInstancesQueryVariables = Exact<{
  filter?: InstanceFilterInput | null | undefined;
  first?: number;
  after?: string | null | undefined;
  orderBy?: InstanceOrder;
}>;


export type DashboardInstancesQuery = { instances: { edges: Array<{ cursor: string, node: { id: number, businessKey: string | null, status: InstanceStatus, currentSteps: Array<string>, startedAt: string, endedAt: string | null, definition: { id: number, key: string, name: string, version: string } } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type DashboardCountersSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type DashboardCountersSubscription = { dashboardCounters: { openTasks: number, openIncidents: number, definitions: Array<{ definitionKey: string, active: number, completed: number, failed: number, cancelled: number }> } };

export type DefinitionsQueryVariables = Exact<{
  key?: string | null | undefined;
  latestOnly?: boolean;
}>;


export type DefinitionsQuery = { definitions: Array<{ id: number, key: string, name: string, version: string, revision: number, deployedAt: string, versions: Array<{ id: number, version: string, revision: number, deployedAt: string }> }> };

export type DeployDefinitionMutationVariables = Exact<{
  definition: unknown;
}>;


export type DeployDefinitionMutation = { deployDefinition:
    | { __typename: 'ConflictError', message: string, code: string }
    | { __typename: 'DeployDefinitionSuccess', created: boolean, definition: { id: number, key: string, name: string, version: string, revision: number } }
    | { __typename: 'NotFoundError', message: string, kind: string }
    | { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> }
   };

export type FetchAndLockExternalTasksMutationVariables = Exact<{
  workerId: string;
  topics: Array<ExternalTopicInput> | ExternalTopicInput;
  maxTasks?: number;
}>;


export type FetchAndLockExternalTasksMutation = { fetchAndLockExternalTasks:
    | { __typename: 'ExternalTaskBatch', tasks: Array<{ variables: unknown, id: number, topicName: string, method: string | null, stepId: string, instanceId: number, businessKey: string | null, definitionKey: string, attempt: number, maxAttempts: number, idempotencyKey: string, status: string, workerId: string | null, lockedUntil: string | null }> }
    | { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> }
   };

export type ExternalTaskFieldsFragment = { id: number, topicName: string, method: string | null, stepId: string, instanceId: number, businessKey: string | null, definitionKey: string, attempt: number, maxAttempts: number, idempotencyKey: string, status: string, workerId: string | null, lockedUntil: string | null };

export type IncidentsPageQueryVariables = Exact<{
  filter?: IncidentFilter | null | undefined;
  first?: number;
  after?: string | null | undefined;
}>;


export type IncidentsPageQuery = { incidents: { edges: Array<{ cursor: string, node: { id: number, stepId: string, error: string, message: string, status: string, createdAt: string, resolvedAt: string | null, instance: { id: number, businessKey: string | null, definitionKey: string, status: InstanceStatus } } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type RetryIncidentMutationVariables = Exact<{
  id: number;
}>;


export type RetryIncidentMutation = { retryIncident:
    | { __typename: 'ConflictError', message: string, code: string }
    | { __typename: 'InstanceSuccess', instance: { id: number, status: InstanceStatus, currentSteps: Array<string>, incidents: Array<{ id: number, status: string }> } }
    | { __typename: 'NotFoundError', message: string, kind: string }
    | { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> }
   };

export type InstanceChangesSubscriptionVariables = Exact<{
  filter?: InstanceChangeFilter | null | undefined;
  after?: string | null | undefined;
}>;


export type InstanceChangesSubscription = { instanceChanges: { instanceId: number, seq: number, cursor: string, definitionKey: string, businessKey: string | null, status: InstanceStatus, updatedAt: string, endedAt: string | null } };

export type InstanceDetailQueryVariables = Exact<{
  id: number;
}>;


export type InstanceDetailQuery = { instance: { id: number, businessKey: string | null, status: InstanceStatus, variables: unknown, currentSteps: Array<string>, startedAt: string, startedBy: string | null, endedAt: string | null, definition: { id: number, key: string, name: string, version: string, revision: number, definition: unknown }, parent: { id: number, businessKey: string | null } | null, tasks: Array<{ id: number, name: string, stepId: string, status: string, assignee: string | null, dueAt: string | null, completedAt: string | null, completedBy: string | null }>, incidents: Array<{ id: number, stepId: string, error: string, message: string, status: string, createdAt: string, resolvedAt: string | null }>, history: Array<{ seq: number, type: string, stepId: string | null, actor: string | null, at: string, data: unknown }> } | null };

export type InstanceEventsSubscriptionVariables = Exact<{
  instanceId: number;
  afterSeq?: number;
}>;


export type InstanceEventsSubscription = { instanceEvents: { instanceId: number, seq: number, id: number, type: string, stepId: string | null, tokenId: string | null, actor: string | null, at: string, data: unknown } };

export type InstancesPageQueryVariables = Exact<{
  filter?: InstanceFilterInput | null | undefined;
  first?: number;
  after?: string | null | undefined;
}>;


export type InstancesPageQuery = { instances: { edges: Array<{ cursor: string, node: { id: number, businessKey: string | null, status: InstanceStatus, currentSteps: Array<string>, startedAt: string, endedAt: string | null, tasks: Array<{ id: number, status: string }>, incidents: Array<{ id: number, status: string }>, definition: { id: number, key: string, name: string, version: string } } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type MyTasksQueryVariables = Exact<{
  first?: number;
  after?: string | null | undefined;
  claimableAfter?: string | null | undefined;
}>;


export type MyTasksQuery = { assigned: { edges: Array<{ cursor: string, node: { id: number, name: string, stepId: string, status: string, assignee: string | null, candidateUsers: Array<string>, candidateGroups: Array<string>, dueAt: string | null, priority: number, createdAt: string, instance: { id: number, businessKey: string | null, definition: { id: number, key: string, name: string } } } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } }, claimable: { edges: Array<{ cursor: string, node: { id: number, name: string, stepId: string, status: string, assignee: string | null, candidateUsers: Array<string>, candidateGroups: Array<string>, dueAt: string | null, priority: number, createdAt: string, instance: { id: number, businessKey: string | null, definition: { id: number, key: string, name: string } } } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type CompleteExternalTaskMutationVariables = Exact<{
  id: number;
  workerId: string;
  variables?: unknown;
}>;


export type CompleteExternalTaskMutation = { completeExternalTask:
    | { __typename: 'ConflictError', message: string, code: string }
    | { __typename: 'ExternalTaskSuccess', task: { id: number, status: string, workerId: string | null, lockedUntil: string | null } }
    | { __typename: 'NotFoundError', message: string, kind: string }
    | { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> }
   };

export type FailExternalTaskMutationVariables = Exact<{
  id: number;
  workerId: string;
  message: string;
  retryable?: boolean;
}>;


export type FailExternalTaskMutation = { failExternalTask:
    | { __typename: 'ConflictError', message: string, code: string }
    | { __typename: 'ExternalTaskSuccess', task: { id: number, status: string, workerId: string | null, lockedUntil: string | null } }
    | { __typename: 'NotFoundError', message: string, kind: string }
    | { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> }
   };

export type ReportExternalTaskErrorMutationVariables = Exact<{
  id: number;
  workerId: string;
  errorCode: string;
  message?: string;
}>;


export type ReportExternalTaskErrorMutation = { reportExternalTaskError:
    | { __typename: 'ConflictError', message: string, code: string }
    | { __typename: 'ExternalTaskSuccess', task: { id: number, status: string, workerId: string | null, lockedUntil: string | null } }
    | { __typename: 'NotFoundError', message: string, kind: string }
    | { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> }
   };

export type ExtendExternalTaskLockMutationVariables = Exact<{
  id: number;
  workerId: string;
  lockDurationMs: number;
}>;


export type ExtendExternalTaskLockMutation = { extendExternalTaskLock:
    | { __typename: 'ConflictError', message: string, code: string }
    | { __typename: 'ExternalTaskSuccess', task: { id: number, status: string, workerId: string | null, lockedUntil: string | null } }
    | { __typename: 'NotFoundError', message: string, kind: string }
    | { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> }
   };

type ExternalTaskResultFields_ConflictError_Fragment = { __typename: 'ConflictError', message: string, code: string };

type ExternalTaskResultFields_ExternalTaskSuccess_Fragment = { __typename: 'ExternalTaskSuccess', task: { id: number, status: string, workerId: string | null, lockedUntil: string | null } };

type ExternalTaskResultFields_NotFoundError_Fragment = { __typename: 'NotFoundError', message: string, kind: string };

type ExternalTaskResultFields_ValidationFailed_Fragment = { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> };

export type ExternalTaskResultFieldsFragment =
  | ExternalTaskResultFields_ConflictError_Fragment
  | ExternalTaskResultFields_ExternalTaskSuccess_Fragment
  | ExternalTaskResultFields_NotFoundError_Fragment
  | ExternalTaskResultFields_ValidationFailed_Fragment
;

export type StartInstanceMutationVariables = Exact<{
  definitionId?: number | null | undefined;
  key?: string | null | undefined;
  version?: string | null | undefined;
  businessKey?: string | null | undefined;
  variables?: unknown;
}>;


export type StartInstanceMutation = { startInstance:
    | { __typename: 'ConflictError', message: string, code: string }
    | { __typename: 'InstanceSuccess', instance: { id: number, status: InstanceStatus, businessKey: string | null, currentSteps: Array<string> } }
    | { __typename: 'NotFoundError', message: string, kind: string }
    | { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> }
   };

export type CancelInstanceMutationVariables = Exact<{
  id: number;
  reason?: string;
}>;


export type CancelInstanceMutation = { cancelInstance:
    | { __typename: 'ConflictError', message: string, code: string }
    | { __typename: 'InstanceSuccess', instance: { id: number, status: InstanceStatus, variables: unknown, currentSteps: Array<string> } }
    | { __typename: 'NotFoundError', message: string, kind: string }
    | { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> }
   };

export type SuspendInstanceMutationVariables = Exact<{
  id: number;
}>;


export type SuspendInstanceMutation = { suspendInstance:
    | { __typename: 'ConflictError', message: string, code: string }
    | { __typename: 'InstanceSuccess', instance: { id: number, status: InstanceStatus, variables: unknown, currentSteps: Array<string> } }
    | { __typename: 'NotFoundError', message: string, kind: string }
    | { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> }
   };

export type ResumeInstanceMutationVariables = Exact<{
  id: number;
}>;


export type ResumeInstanceMutation = { resumeInstance:
    | { __typename: 'ConflictError', message: string, code: string }
    | { __typename: 'InstanceSuccess', instance: { id: number, status: InstanceStatus, variables: unknown, currentSteps: Array<string> } }
    | { __typename: 'NotFoundError', message: string, kind: string }
    | { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> }
   };

export type SetVariablesMutationVariables = Exact<{
  id: number;
  variables: unknown;
}>;


export type SetVariablesMutation = { setVariables:
    | { __typename: 'ConflictError', message: string, code: string }
    | { __typename: 'InstanceSuccess', instance: { id: number, status: InstanceStatus, variables: unknown, currentSteps: Array<string> } }
    | { __typename: 'NotFoundError', message: string, kind: string }
    | { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> }
   };

export type SendMessageMutationVariables = Exact<{
  name: string;
  correlationKey?: string | null | undefined;
  variables?: unknown;
}>;


export type SendMessageMutation = { sendMessage:
    | { __typename: 'ConflictError', message: string, code: string }
    | { __typename: 'InstanceSuccess', instance: { id: number, status: InstanceStatus, variables: unknown, currentSteps: Array<string> } }
    | { __typename: 'NotFoundError', message: string, kind: string }
    | { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> }
   };

type InstanceResultFields_ConflictError_Fragment = { __typename: 'ConflictError', message: string, code: string };

type InstanceResultFields_InstanceSuccess_Fragment = { __typename: 'InstanceSuccess', instance: { id: number, status: InstanceStatus, variables: unknown, currentSteps: Array<string> } };

type InstanceResultFields_NotFoundError_Fragment = { __typename: 'NotFoundError', message: string, kind: string };

type InstanceResultFields_ValidationFailed_Fragment = { __typename: 'ValidationFailed', message: string, code: string, problems: Array<{ path: string, code: string, message: string }> };

export type InstanceResultFieldsFragment =
  | InstanceResultFields_ConflictError_Fragment
  | InstanceResultFields_InstanceSuccess_Fragment
  | InstanceResultFields_NotFoundError_Fragment
  | InstanceResultFields_ValidationFailed_Fragment
;

export type TaskChangesSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type TaskChangesSubscription = { taskChanges: { instanceId: number, seq: number | null, id: number, name: string, stepId: string, status: string, assignee: string | null, candidateUsers: Array<string>, candidateGroups: Array<string>, priority: number, dueAt: string | null, createdAt: string, completedAt: string | null, completedBy: string | null, visible: boolean } };

export type TaskDetailQueryVariables = Exact<{
  id: number;
}>;


export type TaskDetailQuery = { task: { id: number, name: string, stepId: string, status: string, assignee: string | null, candidateUsers: Array<string>, candidateGroups: Array<string>, dueAt: string | null, priority: number, createdAt: string, form: Array<{ id: string, label: string, type: string, required: boolean, values: Array<string>, description: string }>, instance: { id: number, businessKey: string | null, variables: unknown } } | null };

export type ValidationFailedFieldsFragment = { message: string, code: string, problems: Array<{ path: string, code: string, message: string }> };

export type NotFoundFieldsFragment = { message: string, kind: string };

export type ConflictFieldsFragment = { message: string, code: string };

export type AuthFailedFieldsFragment = { message: string, code: string, retryAfter: number | null };

export type InstanceRowFragment = { id: number, businessKey: string | null, status: InstanceStatus, currentSteps: Array<string>, startedAt: string, endedAt: string | null, definition: { id: number, key: string, name: string, version: string } };

export type TaskFieldsFragment = { id: number, name: string, stepId: string, status: string, assignee: string | null, candidateUsers: Array<string>, candidateGroups: Array<string>, dueAt: string | null, priority: number, createdAt: string };

export type TaskPageFragment = { edges: Array<{ cursor: string, node: { id: number, name: string, stepId: string, status: string, assignee: string | null, candidateUsers: Array<string>, candidateGroups: Array<string>, dueAt: string | null, priority: number, createdAt: string, instance: { id: number, businessKey: string | null, definition: { id: number, key: string, name: string } } } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const AuthFailedFieldsFragmentDoc = new TypedDocumentString(`
    fragment AuthFailedFields on AuthFailed {
  message
  code
  retryAfter
}
    `, {"fragmentName":"AuthFailedFields"}) as unknown as TypedDocumentString<AuthFailedFieldsFragment, unknown>;
export const AuthResultFieldsFragmentDoc = new TypedDocumentString(`
    fragment AuthResultFields on AuthResult {
  __typename
  ... on AuthTokens {
    accessToken
    refreshToken
    expiresIn
    tokenType
  }
  ...AuthFailedFields
}
    fragment AuthFailedFields on AuthFailed {
  message
  code
  retryAfter
}`, {"fragmentName":"AuthResultFields"}) as unknown as TypedDocumentString<AuthResultFieldsFragment, unknown>;
export const NotFoundFieldsFragmentDoc = new TypedDocumentString(`
    fragment NotFoundFields on NotFoundError {
  message
  kind
}
    `, {"fragmentName":"NotFoundFields"}) as unknown as TypedDocumentString<NotFoundFieldsFragment, unknown>;
export const ConflictFieldsFragmentDoc = new TypedDocumentString(`
    fragment ConflictFields on ConflictError {
  message
  code
}
    `, {"fragmentName":"ConflictFields"}) as unknown as TypedDocumentString<ConflictFieldsFragment, unknown>;
export const ValidationFailedFieldsFragmentDoc = new TypedDocumentString(`
    fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
    `, {"fragmentName":"ValidationFailedFields"}) as unknown as TypedDocumentString<ValidationFailedFieldsFragment, unknown>;
export const TaskResultFieldsFragmentDoc = new TypedDocumentString(`
    fragment TaskResultFields on TaskResult {
  __typename
  ... on TaskSuccess {
    task {
      id
      status
      assignee
    }
  }
  ...NotFoundFields
  ...ConflictFields
  ...ValidationFailedFields
}
    fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`, {"fragmentName":"TaskResultFields"}) as unknown as TypedDocumentString<TaskResultFieldsFragment, unknown>;
export const ExternalTaskFieldsFragmentDoc = new TypedDocumentString(`
    fragment ExternalTaskFields on ExternalTask {
  id
  topicName
  method
  stepId
  instanceId
  businessKey
  definitionKey
  attempt
  maxAttempts
  idempotencyKey
  status
  workerId
  lockedUntil
}
    `, {"fragmentName":"ExternalTaskFields"}) as unknown as TypedDocumentString<ExternalTaskFieldsFragment, unknown>;
export const ExternalTaskResultFieldsFragmentDoc = new TypedDocumentString(`
    fragment ExternalTaskResultFields on ExternalTaskResult {
  __typename
  ... on ExternalTaskSuccess {
    task {
      id
      status
      workerId
      lockedUntil
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
    fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`, {"fragmentName":"ExternalTaskResultFields"}) as unknown as TypedDocumentString<ExternalTaskResultFieldsFragment, unknown>;
export const InstanceResultFieldsFragmentDoc = new TypedDocumentString(`
    fragment InstanceResultFields on InstanceResult {
  __typename
  ... on InstanceSuccess {
    instance {
      id
      status
      variables
      currentSteps
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
    fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`, {"fragmentName":"InstanceResultFields"}) as unknown as TypedDocumentString<InstanceResultFieldsFragment, unknown>;
export const InstanceRowFragmentDoc = new TypedDocumentString(`
    fragment InstanceRow on ProcessInstance {
  id
  businessKey
  status
  currentSteps
  startedAt
  endedAt
  definition {
    id
    key
    name
    version
  }
}
    `, {"fragmentName":"InstanceRow"}) as unknown as TypedDocumentString<InstanceRowFragment, unknown>;
export const TaskFieldsFragmentDoc = new TypedDocumentString(`
    fragment TaskFields on Task {
  id
  name
  stepId
  status
  assignee
  candidateUsers
  candidateGroups
  dueAt
  priority
  createdAt
}
    `, {"fragmentName":"TaskFields"}) as unknown as TypedDocumentString<TaskFieldsFragment, unknown>;
export const TaskPageFragmentDoc = new TypedDocumentString(`
    fragment TaskPage on TaskConnection {
  edges {
    cursor
    node {
      ...TaskFields
      instance {
        id
        businessKey
        definition {
          id
          key
          name
        }
      }
    }
  }
  pageInfo {
    hasNextPage
    endCursor
  }
}
    fragment TaskFields on Task {
  id
  name
  stepId
  status
  assignee
  candidateUsers
  candidateGroups
  dueAt
  priority
  createdAt
}`, {"fragmentName":"TaskPage"}) as unknown as TypedDocumentString<TaskPageFragment, unknown>;
export const LoginDocument = new TypedDocumentString(`
    mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password) {
    ...AuthResultFields
  }
}
    fragment AuthResultFields on AuthResult {
  __typename
  ... on AuthTokens {
    accessToken
    refreshToken
    expiresIn
    tokenType
  }
  ...AuthFailedFields
}
fragment AuthFailedFields on AuthFailed {
  message
  code
  retryAfter
}`) as unknown as TypedDocumentString<LoginMutation, LoginMutationVariables>;
export const RefreshTokenDocument = new TypedDocumentString(`
    mutation RefreshToken($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) {
    ...AuthResultFields
  }
}
    fragment AuthResultFields on AuthResult {
  __typename
  ... on AuthTokens {
    accessToken
    refreshToken
    expiresIn
    tokenType
  }
  ...AuthFailedFields
}
fragment AuthFailedFields on AuthFailed {
  message
  code
  retryAfter
}`) as unknown as TypedDocumentString<RefreshTokenMutation, RefreshTokenMutationVariables>;
export const LogoutDocument = new TypedDocumentString(`
    mutation Logout($refreshToken: String!) {
  logout(refreshToken: $refreshToken) {
    __typename
    ... on LoggedOut {
      ok
    }
    ...AuthFailedFields
  }
}
    fragment AuthFailedFields on AuthFailed {
  message
  code
  retryAfter
}`) as unknown as TypedDocumentString<LogoutMutation, LogoutMutationVariables>;
export const MeDocument = new TypedDocumentString(`
    query Me {
  me {
    username
    roles
    groups
    permissions
  }
}
    `) as unknown as TypedDocumentString<MeQuery, MeQueryVariables>;
export const ClaimTaskDocument = new TypedDocumentString(`
    mutation ClaimTask($id: Int!) {
  claimTask(id: $id) {
    ...TaskResultFields
  }
}
    fragment TaskResultFields on TaskResult {
  __typename
  ... on TaskSuccess {
    task {
      id
      status
      assignee
    }
  }
  ...NotFoundFields
  ...ConflictFields
  ...ValidationFailedFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`) as unknown as TypedDocumentString<ClaimTaskMutation, ClaimTaskMutationVariables>;
export const UnclaimTaskDocument = new TypedDocumentString(`
    mutation UnclaimTask($id: Int!) {
  unclaimTask(id: $id) {
    ...TaskResultFields
  }
}
    fragment TaskResultFields on TaskResult {
  __typename
  ... on TaskSuccess {
    task {
      id
      status
      assignee
    }
  }
  ...NotFoundFields
  ...ConflictFields
  ...ValidationFailedFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`) as unknown as TypedDocumentString<UnclaimTaskMutation, UnclaimTaskMutationVariables>;
export const CompleteTaskDocument = new TypedDocumentString(`
    mutation CompleteTask($id: Int!, $variables: JSON) {
  completeTask(id: $id, variables: $variables) {
    __typename
    ... on TaskSuccess {
      task {
        id
        status
        completedAt
        completedBy
      }
    }
    ...ValidationFailedFields
    ...NotFoundFields
    ...ConflictFields
  }
}
    fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`) as unknown as TypedDocumentString<CompleteTaskMutation, CompleteTaskMutationVariables>;
export const DashboardInboxDocument = new TypedDocumentString(`
    query DashboardInbox($first: Int! = 50, $after: String, $claimableAfter: String) {
  assigned: tasks(filter: {assignedToMe: true}, first: $first, after: $after) {
    ...TaskPage
  }
  claimable: tasks(
    filter: {claimableByMe: true}
    first: $first
    after: $claimableAfter
  ) {
    ...TaskPage
  }
}
    fragment TaskFields on Task {
  id
  name
  stepId
  status
  assignee
  candidateUsers
  candidateGroups
  dueAt
  priority
  createdAt
}
fragment TaskPage on TaskConnection {
  edges {
    cursor
    node {
      ...TaskFields
      instance {
        id
        businessKey
        definition {
          id
          key
          name
        }
      }
    }
  }
  pageInfo {
    hasNextPage
    endCursor
  }
}`) as unknown as TypedDocumentString<DashboardInboxQuery, DashboardInboxQueryVariables>;
export const DefinitionSourceDocument = new TypedDocumentString(`
    query DefinitionSource($id: Int!) {
  definition(id: $id) {
    id
    key
    name
    version
    revision
    deployedAt
    deployedBy
    definition
  }
}
    `) as unknown as TypedDocumentString<DefinitionSourceQuery, DefinitionSourceQueryVariables>;
export const DashboardInstancesDocument = new TypedDocumentString(`
    query DashboardInstances($filter: InstanceFilterInput, $first: Int! = 25, $after: String, $orderBy: InstanceOrder! = STARTED) {
  instances(filter: $filter, first: $first, after: $after, orderBy: $orderBy) {
    edges {
      cursor
      node {
        ...InstanceRow
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    fragment InstanceRow on ProcessInstance {
  id
  businessKey
  status
  currentSteps
  startedAt
  endedAt
  definition {
    id
    key
    name
    version
  }
}`) as unknown as TypedDocumentString<DashboardInstancesQuery, DashboardInstancesQueryVariables>;
export const DashboardCountersDocument = new TypedDocumentString(`
    subscription DashboardCounters {
  dashboardCounters {
    definitions {
      definitionKey
      active
      completed
      failed
      cancelled
    }
    openTasks
    openIncidents
  }
}
    `) as unknown as TypedDocumentString<DashboardCountersSubscription, DashboardCountersSubscriptionVariables>;
export const DefinitionsDocument = new TypedDocumentString(`
    query Definitions($key: String, $latestOnly: Boolean! = true) {
  definitions(key: $key, latestOnly: $latestOnly) {
    id
    key
    name
    version
    revision
    deployedAt
    versions {
      id
      version
      revision
      deployedAt
    }
  }
}
    `) as unknown as TypedDocumentString<DefinitionsQuery, DefinitionsQueryVariables>;
export const DeployDefinitionDocument = new TypedDocumentString(`
    mutation DeployDefinition($definition: JSON!) {
  deployDefinition(definition: $definition) {
    __typename
    ... on DeployDefinitionSuccess {
      created
      definition {
        id
        key
        name
        version
        revision
      }
    }
    ...ValidationFailedFields
    ...NotFoundFields
    ...ConflictFields
  }
}
    fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`) as unknown as TypedDocumentString<DeployDefinitionMutation, DeployDefinitionMutationVariables>;
export const FetchAndLockExternalTasksDocument = new TypedDocumentString(`
    mutation FetchAndLockExternalTasks($workerId: String!, $topics: [ExternalTopicInput!]!, $maxTasks: Int! = 10) {
  fetchAndLockExternalTasks(
    workerId: $workerId
    topics: $topics
    maxTasks: $maxTasks
  ) {
    __typename
    ... on ExternalTaskBatch {
      tasks {
        ...ExternalTaskFields
        variables
      }
    }
    ...ValidationFailedFields
  }
}
    fragment ExternalTaskFields on ExternalTask {
  id
  topicName
  method
  stepId
  instanceId
  businessKey
  definitionKey
  attempt
  maxAttempts
  idempotencyKey
  status
  workerId
  lockedUntil
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}`) as unknown as TypedDocumentString<FetchAndLockExternalTasksMutation, FetchAndLockExternalTasksMutationVariables>;
export const IncidentsPageDocument = new TypedDocumentString(`
    query IncidentsPage($filter: IncidentFilter, $first: Int! = 25, $after: String) {
  incidents(filter: $filter, first: $first, after: $after) {
    edges {
      cursor
      node {
        id
        stepId
        error
        message
        status
        createdAt
        resolvedAt
        instance {
          id
          businessKey
          definitionKey
          status
        }
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    `) as unknown as TypedDocumentString<IncidentsPageQuery, IncidentsPageQueryVariables>;
export const RetryIncidentDocument = new TypedDocumentString(`
    mutation RetryIncident($id: Int!) {
  retryIncident(id: $id) {
    __typename
    ... on InstanceSuccess {
      instance {
        id
        status
        currentSteps
        incidents {
          id
          status
        }
      }
    }
    ...NotFoundFields
    ...ConflictFields
    ...ValidationFailedFields
  }
}
    fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`) as unknown as TypedDocumentString<RetryIncidentMutation, RetryIncidentMutationVariables>;
export const InstanceChangesDocument = new TypedDocumentString(`
    subscription InstanceChanges($filter: InstanceChangeFilter, $after: String) {
  instanceChanges(filter: $filter, after: $after) {
    instanceId
    seq
    cursor
    definitionKey
    businessKey
    status
    updatedAt
    endedAt
  }
}
    `) as unknown as TypedDocumentString<InstanceChangesSubscription, InstanceChangesSubscriptionVariables>;
export const InstanceDetailDocument = new TypedDocumentString(`
    query InstanceDetail($id: Int!) {
  instance(id: $id) {
    id
    businessKey
    status
    variables
    currentSteps
    startedAt
    startedBy
    endedAt
    definition {
      id
      key
      name
      version
      revision
      definition
    }
    parent {
      id
      businessKey
    }
    tasks {
      id
      name
      stepId
      status
      assignee
      dueAt
      completedAt
      completedBy
    }
    incidents {
      id
      stepId
      error
      message
      status
      createdAt
      resolvedAt
    }
    history {
      seq
      type
      stepId
      actor
      at
      data
    }
  }
}
    `) as unknown as TypedDocumentString<InstanceDetailQuery, InstanceDetailQueryVariables>;
export const InstanceEventsDocument = new TypedDocumentString(`
    subscription InstanceEvents($instanceId: Int!, $afterSeq: Int! = 0) {
  instanceEvents(instanceId: $instanceId, afterSeq: $afterSeq) {
    instanceId
    seq
    id
    type
    stepId
    tokenId
    actor
    at
    data
  }
}
    `) as unknown as TypedDocumentString<InstanceEventsSubscription, InstanceEventsSubscriptionVariables>;
export const InstancesPageDocument = new TypedDocumentString(`
    query InstancesPage($filter: InstanceFilterInput, $first: Int! = 20, $after: String) {
  instances(filter: $filter, first: $first, after: $after) {
    edges {
      cursor
      node {
        ...InstanceRow
        tasks {
          id
          status
        }
        incidents {
          id
          status
        }
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    fragment InstanceRow on ProcessInstance {
  id
  businessKey
  status
  currentSteps
  startedAt
  endedAt
  definition {
    id
    key
    name
    version
  }
}`) as unknown as TypedDocumentString<InstancesPageQuery, InstancesPageQueryVariables>;
export const MyTasksDocument = new TypedDocumentString(`
    query MyTasks($first: Int! = 20, $after: String, $claimableAfter: String) {
  assigned: tasks(filter: {assignedToMe: true}, first: $first, after: $after) {
    ...TaskPage
  }
  claimable: tasks(
    filter: {claimableByMe: true}
    first: $first
    after: $claimableAfter
  ) {
    ...TaskPage
  }
}
    fragment TaskFields on Task {
  id
  name
  stepId
  status
  assignee
  candidateUsers
  candidateGroups
  dueAt
  priority
  createdAt
}
fragment TaskPage on TaskConnection {
  edges {
    cursor
    node {
      ...TaskFields
      instance {
        id
        businessKey
        definition {
          id
          key
          name
        }
      }
    }
  }
  pageInfo {
    hasNextPage
    endCursor
  }
}`) as unknown as TypedDocumentString<MyTasksQuery, MyTasksQueryVariables>;
export const CompleteExternalTaskDocument = new TypedDocumentString(`
    mutation CompleteExternalTask($id: Int!, $workerId: String!, $variables: JSON) {
  completeExternalTask(id: $id, workerId: $workerId, variables: $variables) {
    ...ExternalTaskResultFields
  }
}
    fragment ExternalTaskResultFields on ExternalTaskResult {
  __typename
  ... on ExternalTaskSuccess {
    task {
      id
      status
      workerId
      lockedUntil
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`) as unknown as TypedDocumentString<CompleteExternalTaskMutation, CompleteExternalTaskMutationVariables>;
export const FailExternalTaskDocument = new TypedDocumentString(`
    mutation FailExternalTask($id: Int!, $workerId: String!, $message: String!, $retryable: Boolean! = true) {
  failExternalTask(
    id: $id
    workerId: $workerId
    message: $message
    retryable: $retryable
  ) {
    ...ExternalTaskResultFields
  }
}
    fragment ExternalTaskResultFields on ExternalTaskResult {
  __typename
  ... on ExternalTaskSuccess {
    task {
      id
      status
      workerId
      lockedUntil
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`) as unknown as TypedDocumentString<FailExternalTaskMutation, FailExternalTaskMutationVariables>;
export const ReportExternalTaskErrorDocument = new TypedDocumentString(`
    mutation ReportExternalTaskError($id: Int!, $workerId: String!, $errorCode: String!, $message: String! = "") {
  reportExternalTaskError(
    id: $id
    workerId: $workerId
    errorCode: $errorCode
    message: $message
  ) {
    ...ExternalTaskResultFields
  }
}
    fragment ExternalTaskResultFields on ExternalTaskResult {
  __typename
  ... on ExternalTaskSuccess {
    task {
      id
      status
      workerId
      lockedUntil
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`) as unknown as TypedDocumentString<ReportExternalTaskErrorMutation, ReportExternalTaskErrorMutationVariables>;
export const ExtendExternalTaskLockDocument = new TypedDocumentString(`
    mutation ExtendExternalTaskLock($id: Int!, $workerId: String!, $lockDurationMs: Int!) {
  extendExternalTaskLock(
    id: $id
    workerId: $workerId
    lockDurationMs: $lockDurationMs
  ) {
    ...ExternalTaskResultFields
  }
}
    fragment ExternalTaskResultFields on ExternalTaskResult {
  __typename
  ... on ExternalTaskSuccess {
    task {
      id
      status
      workerId
      lockedUntil
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`) as unknown as TypedDocumentString<ExtendExternalTaskLockMutation, ExtendExternalTaskLockMutationVariables>;
export const StartInstanceDocument = new TypedDocumentString(`
    mutation StartInstance($definitionId: Int, $key: String, $version: String, $businessKey: String, $variables: JSON) {
  startInstance(
    definitionId: $definitionId
    key: $key
    version: $version
    businessKey: $businessKey
    variables: $variables
  ) {
    __typename
    ... on InstanceSuccess {
      instance {
        id
        status
        businessKey
        currentSteps
      }
    }
    ...ValidationFailedFields
    ...NotFoundFields
    ...ConflictFields
  }
}
    fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`) as unknown as TypedDocumentString<StartInstanceMutation, StartInstanceMutationVariables>;
export const CancelInstanceDocument = new TypedDocumentString(`
    mutation CancelInstance($id: Int!, $reason: String! = "") {
  cancelInstance(id: $id, reason: $reason) {
    ...InstanceResultFields
  }
}
    fragment InstanceResultFields on InstanceResult {
  __typename
  ... on InstanceSuccess {
    instance {
      id
      status
      variables
      currentSteps
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`) as unknown as TypedDocumentString<CancelInstanceMutation, CancelInstanceMutationVariables>;
export const SuspendInstanceDocument = new TypedDocumentString(`
    mutation SuspendInstance($id: Int!) {
  suspendInstance(id: $id) {
    ...InstanceResultFields
  }
}
    fragment InstanceResultFields on InstanceResult {
  __typename
  ... on InstanceSuccess {
    instance {
      id
      status
      variables
      currentSteps
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`) as unknown as TypedDocumentString<SuspendInstanceMutation, SuspendInstanceMutationVariables>;
export const ResumeInstanceDocument = new TypedDocumentString(`
    mutation ResumeInstance($id: Int!) {
  resumeInstance(id: $id) {
    ...InstanceResultFields
  }
}
    fragment InstanceResultFields on InstanceResult {
  __typename
  ... on InstanceSuccess {
    instance {
      id
      status
      variables
      currentSteps
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`) as unknown as TypedDocumentString<ResumeInstanceMutation, ResumeInstanceMutationVariables>;
export const SetVariablesDocument = new TypedDocumentString(`
    mutation SetVariables($id: Int!, $variables: JSON!) {
  setVariables(id: $id, variables: $variables) {
    ...InstanceResultFields
  }
}
    fragment InstanceResultFields on InstanceResult {
  __typename
  ... on InstanceSuccess {
    instance {
      id
      status
      variables
      currentSteps
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`) as unknown as TypedDocumentString<SetVariablesMutation, SetVariablesMutationVariables>;
export const SendMessageDocument = new TypedDocumentString(`
    mutation SendMessage($name: String!, $correlationKey: String, $variables: JSON) {
  sendMessage(name: $name, correlationKey: $correlationKey, variables: $variables) {
    ...InstanceResultFields
  }
}
    fragment InstanceResultFields on InstanceResult {
  __typename
  ... on InstanceSuccess {
    instance {
      id
      status
      variables
      currentSteps
    }
  }
  ...ValidationFailedFields
  ...NotFoundFields
  ...ConflictFields
}
fragment ValidationFailedFields on ValidationFailed {
  message
  code
  problems {
    path
    code
    message
  }
}
fragment NotFoundFields on NotFoundError {
  message
  kind
}
fragment ConflictFields on ConflictError {
  message
  code
}`) as unknown as TypedDocumentString<SendMessageMutation, SendMessageMutationVariables>;
export const TaskChangesDocument = new TypedDocumentString(`
    subscription TaskChanges {
  taskChanges {
    instanceId
    seq
    id
    name
    stepId
    status
    assignee
    candidateUsers
    candidateGroups
    priority
    dueAt
    createdAt
    completedAt
    completedBy
    visible
  }
}
    `) as unknown as TypedDocumentString<TaskChangesSubscription, TaskChangesSubscriptionVariables>;
export const TaskDetailDocument = new TypedDocumentString(`
    query TaskDetail($id: Int!) {
  task(id: $id) {
    ...TaskFields
    form {
      id
      label
      type
      required
      values
      description
    }
    instance {
      id
      businessKey
      variables
    }
  }
}
    fragment TaskFields on Task {
  id
  name
  stepId
  status
  assignee
  candidateUsers
  candidateGroups
  dueAt
  priority
  createdAt
}`) as unknown as TypedDocumentString<TaskDetailQuery, TaskDetailQueryVariables>;