#!/usr/bin/env node
// `npm run serve -- [options]`: the server on any engine module. The module (default src/model/main-thread/engine.ts,
// or --engine-module / UNITOK_ENGINE_MODULE) exports `createEngine: EngineFactory` (src/model/engine-types.ts).
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { EngineFactory } from '../model/engine-types.ts';
import { DEFAULT_ENGINE_MODULE } from './config.ts';
import { readCli, runMain, serve } from './serve.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function loadFactory(engineModule: string): Promise<EngineFactory | string> {
  // The default module is the project's own; a path given by the user is relative to the working directory.
  const path = resolve(engineModule === DEFAULT_ENGINE_MODULE ? PROJECT_ROOT : process.cwd(), engineModule);
  try {
    const { createEngine } = (await import(pathToFileURL(path).href)) as { createEngine?: EngineFactory };
    return typeof createEngine === 'function' ? createEngine : `${path} does not export createEngine`;
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    return `cannot load the engine module ${path}: ${(err as Error).message}`;
  }
}

runMain(async () => {
  const cli = readCli(process.argv.slice(2));
  if (typeof cli === 'number') return cli;
  const factory = await loadFactory(cli.engineModule);
  if (typeof factory === 'string') {
    process.stderr.write(`unitok-server: ${factory}\n`);
    return 2;
  }
  await serve(cli, factory);
  return -1;
});
