// Types for scripts/gen-api-types.mjs, imported by test/openapi.test.ts.
export declare const SPEC_URL: URL;
export declare const TYPES_PATH: string;
export declare function generateApiTypes(): Promise<string>;
