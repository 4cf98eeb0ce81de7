// The runner's default intra-op threads per session: one for a small graph, ORT's default for a large one; and
// how many runners the engine starts when the operator does not say.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readBundle } from '../src/model/bundle.ts';
import { runnerCount } from '../src/model/main-thread/engine.ts';
import { defaultThreads, SMALL_GRAPH_BYTES } from '../src/model/threads.ts';
import { sessionOptions } from '../src/model/worker-thread/devices.ts';

test('small graphs get one intra-op thread on the CPU; large ones and other devices are left to ORT', () => {
  const tiny = readBundle('models/tiny');
  assert.equal(defaultThreads(tiny.graphs.llm, 'cpu'), 1);
  assert.equal(defaultThreads(tiny.graphs.llm, 'webgpu'), undefined);
  const dir = mkdtempSync(join(tmpdir(), 'threads-'));
  try {
    const graph = join(dir, 'big.onnx');
    writeFileSync(graph, '');
    writeFileSync(`${graph}.data`, '');
    truncateSync(`${graph}.data`, SMALL_GRAPH_BYTES); // sparse: the size counts, no disk is used
    assert.equal(defaultThreads(graph, 'cpu'), undefined, 'the weights file counts');
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('runners by default: one per 4 slots and at most one per core for one-thread graphs, else one', () => {
  const cores = availableParallelism();
  assert.equal(runnerCount(8, 1), Math.min(2, cores));
  assert.equal(runnerCount(16, 1), Math.min(4, cores));
  assert.equal(runnerCount(3, 1), 1, 'fewer than 4 slots: one runner');
  assert.equal(runnerCount(64, undefined), 1, 'a graph on every core (or a GPU): one runner');
  assert.equal(runnerCount(64, 2), 1);
});

test('intra-op pools are parked unless spinning is asked for', () => {
  const spin = (o: ReturnType<typeof sessionOptions>) =>
    (o.extra as { session: { intra_op: { allow_spinning: string } } }).session.intra_op.allow_spinning;
  assert.equal(spin(sessionOptions('cpu')), '0');
  assert.equal(spin(sessionOptions('cpu', { intraOpThreads: 2 })), '0');
  assert.equal(spin(sessionOptions('cpu', { spinning: true })), '1');
  assert.equal(sessionOptions('cpu', { intraOpThreads: 2 }).intraOpNumThreads, 2);
});
