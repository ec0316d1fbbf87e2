/**
 * Test helpers for users' components: `import { testEntity } from "sagaflow/testkit"`.
 *
 * @module sagaflow/testkit
 */
export { testEntity, testKeyValue, EntityUnderTest, KeyValueUnderTest } from "./entity-testkit.ts";
export type { CommandResult } from "./entity-testkit.ts";
export { testWorkflow, mockComponent, WorkflowUnderTest } from "./workflow-testkit.ts";
export type { InjectedFailure, WorkflowTestkitOptions } from "./workflow-testkit.ts";
export { testService, ServiceUnderTest } from "./service-testkit.ts";
export type { TestRequestOptions, TestResponse } from "./service-testkit.ts";
export type { AdminFacade, ConsumerReport, ViewReport, EntitySummary } from "../runtime/facades.ts";
