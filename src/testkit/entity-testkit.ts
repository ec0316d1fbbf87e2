import type { HandlerReply, InputOf } from "../define/component.ts";
import type { EntityDefinition, EventsOf } from "../define/entity.ts";
import { checkDefinitionKind } from "./definition-kind.ts";
import type { KeyValueDefinition } from "../define/key-value.ts";
import { decideEntity, decideKeyValue, foldEvents, type Current, type Decision } from "../runtime/decide.ts";
import { freezeState, frozenDecision } from "../runtime/frozen-state.ts";
import { copyInput, jsonCopy } from "../runtime/json-copy.ts";

type Declared<T> = string extends keyof T ? never : keyof T & string;
type HandlerName<D> = D extends { commands: infer CM; queries: infer QM } ? Declared<CM> | Declared<QM> : never;
type HandlerOf<D, K> = D extends { commands: infer CM; queries: infer QM }
  ? K extends keyof CM ? CM[K] : K extends keyof QM ? QM[K] : never
  : never;
type EventOf<EH> = { [K in keyof EventsOf<EH>]: { type: K; payload: EventsOf<EH>[K] } }[keyof EventsOf<EH>];

/** What one command did, with nothing stored: the events, the reply or the error, the state after. */
export interface CommandResult<S, R, E = never> {
  events: E[];
  reply: R | undefined;
  error: { code: string; message: string } | undefined;
  state: S;
  deleted: boolean;
}

abstract class InstanceUnderTest<D extends { name: string; commands: unknown; queries: unknown; initial: () => S }, S, E> {
  protected current: Current;

  constructor(protected readonly definition: D) {
    // Frozen, as the runtime gives it: a handler changing it in place fails here too.
    this.current = { state: freezeState(definition.initial()), deleted: false };
  }

  get state(): S {
    return this.current.state as S;
  }

  get deleted(): boolean {
    return this.current.deleted;
  }

  /** Runs a command or query; its effects become the state for the next one. */
  command<K extends HandlerName<D>>(
    name: K,
    ...input: {} extends InputOf<HandlerOf<D, K>> ? [InputOf<HandlerOf<D, K>>?] : [InputOf<HandlerOf<D, K>>]
  ): CommandResult<S, HandlerReply<HandlerOf<D, K>>, E> {
    const isQuery = Object.hasOwn(this.definition.queries as object, name);
    if (!isQuery && !Object.hasOwn(this.definition.commands as object, name)) {
      throw new Error(`no command or query named "${name}"`);
    }
    if (this.current.deleted) throw new Error("the instance is deleted: the runtime refuses every command");
    // The input goes in as a copy, as in the runtime: the test's own object is never frozen with the state.
    const copied = copyInput(input[0] ?? {}, this.definition.name, name);
    const decision = frozenDecision(this.definition.name, name, () => this.decide(name, copied, isQuery));
    if (decision.changed) this.current = decision.next;
    return {
      events: decision.events as E[],
      reply: decision.reply.ok ? (decision.reply.value as HandlerReply<HandlerOf<D, K>>) : undefined,
      error: decision.reply.ok ? undefined : { code: decision.reply.code, message: decision.reply.message },
      state: this.current.state as S,
      deleted: this.current.deleted,
    };
  }

  /** Starts from this state. */
  givenState(state: S): this {
    this.current = { state: freezeState(jsonCopy(state)), deleted: false };
    return this;
  }

  protected abstract decide(name: string, input: unknown, isQuery: boolean): Decision;
}

/** An event-sourced entity under test, with no store. */
export class EntityUnderTest<S, EH, CM, QM> extends InstanceUnderTest<
  EntityDefinition<S, EH, CM, QM>,
  S,
  EventOf<EH>
> {
  /** Starts from the state these events fold to. */
  given(...events: EventOf<EH>[]): this {
    this.current = { state: freezeState(foldEvents(this.definition, this.current.state, jsonCopy(events) as never)), deleted: false };
    return this;
  }

  protected decide(name: string, input: unknown, isQuery: boolean): Decision {
    return decideEntity(this.definition, this.current, name, input, isQuery);
  }
}

/** A key-value entity under test, with no store. */
export class KeyValueUnderTest<S, CM, QM> extends InstanceUnderTest<KeyValueDefinition<S, CM, QM>, S, never> {
  protected decide(name: string, input: unknown, isQuery: boolean): Decision {
    return decideKeyValue(this.definition, this.current, name, input, isQuery);
  }
}

/**
 * Unit-tests an event-sourced entity's handlers: given events, when a command, then events,
 * reply or error, and state.
 *
 * @example
 * const result = testEntity(wallet).given({ type: "created", payload: { initialBalance: 10 } })
 *   .command("withdraw", { amount: 3 });
 * assert.deepEqual(result.reply, { balance: 7 });
 */
export function testEntity<S, EH, CM, QM>(definition: EntityDefinition<S, EH, CM, QM>): EntityUnderTest<S, EH, CM, QM> {
  checkDefinitionKind("testEntity", definition, "entity", "an entity (made by entity(…))");
  return new EntityUnderTest(definition);
}

/** Unit-tests a key-value entity's handlers with no store. */
export function testKeyValue<S, CM, QM>(definition: KeyValueDefinition<S, CM, QM>): KeyValueUnderTest<S, CM, QM> {
  checkDefinitionKind("testKeyValue", definition, "key-value", "a key-value entity (made by keyValue(…))");
  return new KeyValueUnderTest(definition);
}
