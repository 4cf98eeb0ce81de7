#!/usr/bin/env node
// `npm start [-- options]`: the OpenAI-style server on this project's engine (src/model/main-thread/engine.ts).
//
// Flags and environment are the server's (src/server/config.ts; `--help` lists them and their defaults).
// The server listens at once (/health answers 503 while the model loads). If loading fails, e.g. --device webgpu
// on a machine without a WebGPU adapter, the reason is printed and the process exits with status 1: the engine
// never falls back to another device.
import { startEngine, type UniTokEngine } from './model/main-thread/engine.ts';
import { readCli, runMain, serve } from './server/serve.ts';

runMain(async () => {
  const cli = readCli(process.argv.slice(2));
  if (typeof cli === 'number') return cli;
  const { app, engine } = await serve(cli, startEngine);
  const { model, device, maxBatch } = cli.engine;
  app.log.info({ model, device, maxBatch }, 'loading the model');
  await (engine as UniTokEngine).loaded;
  const info = engine.info();
  if (info.status !== 'ready') {
    app.log.fatal({ model, device }, `the model failed to load: ${info.statusMessage}`);
    await app.close();
    await engine.close();
    return 1;
  }
  app.log.info(
    { id: info.id, contextLength: info.contextLength, ...(engine as UniTokEngine).layout },
    'model ready',
  );
  return -1; // keep serving
});
