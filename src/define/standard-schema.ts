/**
 * The Standard Schema interface (https://standardschema.dev), declared here as types only, so
 * that any validator implementing it (zod, valibot, arktype, …) can check command input without
 * Sagaflow depending on one of them.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly "~standard": {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (
      value: unknown,
    ) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<StandardIssue> };

export interface StandardIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/** The type a schema produces after validation. */
export type SchemaOutput<T> = T extends StandardSchemaV1<unknown, infer O> ? O : never;
