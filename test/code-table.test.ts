// The in-memory code embedding table (worker-thread/code-table.ts) against code_embed runs on models/tiny.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { readBundle } from '../src/model/bundle.ts';
import { CodeTable, MAX_CODE_TABLE_BYTES } from '../src/model/worker-thread/code-table.ts';

test('gather returns exactly what code_embed returns, row for row; too big a table stays in the graph', async () => {
  const bundle = readBundle('models/tiny');
  const session = await ort.InferenceSession.create(bundle.graphs.code_embed);
  try {
    const { codesPerToken: K, codebookSize: C } = bundle.image;
    const width = Number((session.outputMetadata[0] as unknown as { shape: number[] }).shape[2]);
    const table = await CodeTable.load(session, (K - 1) * C, width);
    assert.ok(table);
    const ids = [0, 5, C, (K - 1) * C - 1, 5];
    const want = await session.run({
      code_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [ids.length, 1]),
    });
    assert.deepEqual(table.gather(ids), want.embeds.data);
    assert.equal(await CodeTable.load(session, MAX_CODE_TABLE_BYTES / 4 / width + 1, width), null);
  } finally {
    await session.release();
  }
});
