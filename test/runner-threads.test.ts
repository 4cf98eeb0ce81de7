// The runner's default intra-op threads per session: one for a small graph, ORT's default for a large one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readBundle } from '../src/model/bundle.ts';
import { defaultThreads, SMALL_GRAPH_BYTES } from '../src/model/worker-thread/devices.ts';

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
