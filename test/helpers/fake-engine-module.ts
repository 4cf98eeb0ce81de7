// TEST DOUBLE as an engine module, so the real CLI can be started as a process: --engine-module <this file>.
// FAKE_TOKEN_DELAY_MS slows generation down (drain tests need requests in flight).
import type { EngineFactory } from '../../src/model/engine-types.ts';
import { FakeEngine } from './fake-engine.ts';

export const createEngine: EngineFactory = async () =>
  new FakeEngine({ tokenDelayMs: Number(process.env.FAKE_TOKEN_DELAY_MS ?? 0) });
