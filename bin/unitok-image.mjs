#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so no build step is needed.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/tokenizer/cli.ts');
process.exitCode = await main(process.argv.slice(2));
