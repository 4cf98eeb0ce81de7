// The in-memory embedding tables (worker-thread/embedding-table.ts) against code_embed and embed_tokens runs on
// models/tiny.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { readBundle } from '../src/model/bundle.ts';
import { EmbeddingTable, MAX_TABLE_BYTES } from '../src/model/worker-thread/embedding-table.ts';

const bundle = readBundle('models/tiny');
const widthOf = (session: ort.InferenceSession) =>
  Number((session.outputMetadata[0] as unknown as { shape: number[] }).shape[2]);

test('code_embed: gather returns exactly what the graph returns, row for row; too big a table stays in the graph', async () => {
  const session = await ort.InferenceSession.create(bundle.graphs.code_embed);
  try {
    const { codesPerToken: K, codebookSize: C } = bundle.image;
    const graph = { session, input: 'code_ids', output: 'embeds' };
    const table = await EmbeddingTable.load(graph, (K - 1) * C, widthOf(session));
    assert.ok(table);
    const ids = [0, 5, C, (K - 1) * C - 1, 5];
    const want = await session.run({
      code_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [ids.length, 1]),
    });
    assert.deepEqual(table.gather(ids), want.embeds.data);
    assert.equal(
      await EmbeddingTable.load(graph, MAX_TABLE_BYTES / 4 / widthOf(session) + 1, widthOf(session)),
      null,
    );
  } finally {
    await session.release();
  }
});

test('embed_tokens: the whole vocabulary in memory gives what the graph gives for a prompt', async () => {
  const session = await ort.InferenceSession.create(bundle.graphs.embed_tokens);
  try {
    const table = await EmbeddingTable.load(
      { session, input: 'input_ids', output: 'inputs_embeds' },
      bundle.vocabSize,
      widthOf(session),
    );
    assert.ok(table);
    const ids = [1, 319, 2, bundle.vocabSize - 1, 319];
    const want = await session.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
    });
    assert.deepEqual(table.gather(ids), want.inputs_embeds.data);
  } finally {
    await session.release();
  }
});
