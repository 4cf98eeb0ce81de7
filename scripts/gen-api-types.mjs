#!/usr/bin/env node
// Generates src/server/api-types.generated.ts from openapi.yaml with openapi-typescript, so the server's
// request/response types come from the same contract as its validation. `--check` exits 1 when the file is stale
// (test/openapi.test.ts runs the same comparison).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';

export const SPEC_URL = new URL('../openapi.yaml', import.meta.url);
export const TYPES_PATH = fileURLToPath(new URL('../src/server/api-types.generated.ts', import.meta.url));

const BANNER =
  '// Generated from openapi.yaml by scripts/gen-api-types.mjs (`npm run gen:api`). Do not edit.\n\n';

export async function generateApiTypes() {
  const ast = await openapiTS(SPEC_URL, { rootTypes: true, rootTypesNoSchemaPrefix: true, silent: true });
  return BANNER + astToString(ast);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = await generateApiTypes();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(TYPES_PATH, 'utf8');
    } catch {}
    if (current !== text) {
      console.error(`${TYPES_PATH} is out of date with openapi.yaml; run: npm run gen:api`);
      process.exit(1);
    }
  } else {
    writeFileSync(TYPES_PATH, text);
    console.log(`wrote ${TYPES_PATH}`);
  }
}
