/**
 * Sagaflow's public API: define components, run them (`createSagaflow`), call them.
 *
 * @module sagaflow
 */
export { entity } from "./define/entity.ts";
export type { EntityDefinition, EntityModel, EntityBehaviour, EventsOf } from "./define/entity.ts";
export { keyValue } from "./define/key-value.ts";
export type { KeyValueDefinition } from "./define/key-value.ts";
export { service } from "./define/service.ts";
export type { Component, ServiceComponent, ServiceDefinition, ServiceOptions } from "./define/service.ts";
export { env } from "./define/auth.ts";
export type { AuthConfig, IssuerConfig, JwtAlgorithm, Principal, EnvValue, Configurable } from "./define/auth.ts";
export type { CorsConfig } from "./define/cors.ts";
export { createAuthenticator } from "./auth/authenticator.ts";
export type { Authenticator, AuthenticatorOptions, AuthResult, AuthFailure } from "./auth/authenticator.ts";
export type { Effect, EntityEffects, KeyValueEffects, ReplyEffects, ReplyOf } from "./define/effect.ts";
export type { StandardSchemaV1 } from "./define/standard-schema.ts";
export {
  SagaflowError,
  RefusalError,
  RetryLaterError,
  StoreUnavailableError,
  isRefusal,
  isStoreUnavailable,
  type StoreUnavailableReason,
} from "./define/errors.ts";
export { workflow } from "./define/workflow.ts";
export type {
  WorkflowDefinition,
  WorkflowView,
  WorkflowStatus,
  StepContext,
  RunAttempt,
  RunOptions,
  StepEffect,
  StepFailure,
  StepOptions,
  StepHandler,
  Steps,
  RetryPolicy,
} from "./define/workflow.ts";
export { saga } from "./define/saga.ts";
export { consumer } from "./define/consumer.ts";
export type { ConsumerDefinition, ConsumerContext, Publish, PublishMessageOptions } from "./define/consumer.ts";
export { deferred } from "./define/deferred.ts";
export { topicConsumer, topicProducer } from "./define/topic.ts";
export { schedule } from "./define/schedule.ts";
export type { ScheduleDefinition, ScheduleOptions, ScheduleTick } from "./define/schedule.ts";
export type {
  TopicConsumerDefinition,
  TopicConsumerOptions,
  TopicContext,
  TopicKey,
  TopicMessageInfo,
  TopicProducerDefinition,
  TopicProducerOptions,
  ProducedChange,
  StreamSpec,
} from "./define/topic.ts";
export type { Broker, BrokerMessage, TopicSubscription, SubscribeOptions, PublishOptions } from "./broker/port.ts";
export { view, table } from "./define/view.ts";
export type { ViewDefinition, ViewTable, UpdateContext } from "./define/view.ts";
export type { DeferredCall, Timers } from "./define/handlers.ts";
export type { SagaState, SagaStep, SagaStatus, SagaOptions } from "./define/saga.ts";
export type { CallOptions } from "./define/handlers.ts";
export { access } from "./define/access.ts";
export type { AccessRule, AccessRequest } from "./define/access.ts";
export type { Exposure, HandlerNames } from "./define/exposure.ts";
export { endpoint, route, reply, EndpointReply } from "./define/endpoint.ts";
export type {
  EndpointDefinition,
  EndpointRoute,
  EndpointRequest,
  EndpointContext,
  EndpointClient,
  RouteOptions,
  RouteHandler,
  HttpMethod,
  PathParams,
  ServerSentEvent,
} from "./define/endpoint.ts";
export type { Client, InstanceClient } from "./client/client.ts";
export { createSagaflow } from "./host/create-sagaflow.ts";
export type { Sagaflow, SagaflowOptions, RequestListener } from "./host/create-sagaflow.ts";
export type { RetentionSettings, RetentionReport, RetentionRun } from "./runtime/retention/retention-service.ts";
export type { ListenOptions, Listening } from "./host/listen.ts";
export { sqlite, postgres, memoryStore } from "./host/stores.ts";
export type { StoreDescriptor, SqliteOptions, PostgresOptions } from "./host/stores.ts";
export type { Clock } from "./runtime/clock.ts";

// Every type that the inferred type of a user's component can name, so that a user's project
// with `declaration: true` can emit .d.ts for its components (TS2742 otherwise).
export type { QueryHandler, InputOf, HandlerReply, InputSchemas, ComponentBase } from "./define/component.ts";
export type { EventHandlersFor, RetryOptions, ConsumerOptions } from "./define/consumer.ts";
export type { RefusalOptions, ReplySpec, Emitting, Updating } from "./define/effect.ts";
export type { EventHandlers, EntityCommandHandler } from "./define/entity.ts";
export type { Caller, HandlersOf, DeferredClient } from "./define/handlers.ts";
export type { KeyValueCommandHandler, KeyValueOptions } from "./define/key-value.ts";
export type { StandardResult, StandardIssue, SchemaOutput } from "./define/standard-schema.ts";
export type { TableUpdaters, ViewOptions } from "./define/view.ts";
export type {
  Transition,
  Moves,
  WorkflowEffects,
  WorkflowCommandEffect,
  WorkflowCommandHandler,
  WorkflowOptions,
  WorkflowReply,
} from "./define/workflow.ts";
