/**
 * Sagaflow's public API: define components, run them, call them.
 */
export { entity } from "./define/entity.ts";
export type { EntityDefinition, EntityModel, EntityBehaviour, EventsOf } from "./define/entity.ts";
export { keyValue } from "./define/key-value.ts";
export type { KeyValueDefinition } from "./define/key-value.ts";
export { service } from "./define/service.ts";
export type { Component, ServiceComponent, ServiceDefinition } from "./define/service.ts";
export type { Effect, EntityEffects, KeyValueEffects, ReplyEffects, ReplyOf } from "./define/effect.ts";
export type { StandardSchemaV1 } from "./define/standard-schema.ts";
export { SagaflowError, isRefusal } from "./define/errors.ts";
export { workflow } from "./define/workflow.ts";
export type {
  WorkflowDefinition,
  WorkflowView,
  WorkflowStatus,
  StepContext,
  StepEffect,
  StepFailure,
  StepOptions,
  StepHandler,
  Steps,
  RetryPolicy,
} from "./define/workflow.ts";
export { saga } from "./define/saga.ts";
export { consumer } from "./define/consumer.ts";
export type { ConsumerDefinition, ConsumerContext } from "./define/consumer.ts";
export { deferred } from "./define/deferred.ts";
export { view, table } from "./define/view.ts";
export type { ViewDefinition, ViewTable, UpdateContext } from "./define/view.ts";
export type { DeferredCall, Timers } from "./define/handlers.ts";
export type { SagaState, SagaStep, SagaStatus, SagaOptions } from "./define/saga.ts";
export { Runtime } from "./runtime/runtime.ts";
export type { RuntimeOptions, CallOptions } from "./runtime/runtime.ts";
export { Client } from "./client/client.ts";
export type { InstanceClient } from "./client/client.ts";
