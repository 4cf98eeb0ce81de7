// TEST DOUBLE as an engine module, so the real CLI can be started as a process: --engine-module <this file>.
import type { EngineFactory } from '../../src/model/engine-types.ts';
import { FakeEngine } from './fake-engine.ts';

export const createEngine: EngineFactory = async () => new FakeEngine();
