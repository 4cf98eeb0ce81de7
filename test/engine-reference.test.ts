// The engine reproduces the Python reference loops (unitok/reference_loop.py) token for token: fixtures
// 'reference_loop' hold, for the committed models/tiny bundle (int4) and for the same checkpoint converted to
// fp32, the prompts' ids, greedy and seeded VQA tokens, and greedy, seeded, filtered and CFG-less image codes.
//
// Images go through the whole engine (prompt template, scheduler, worker, depth head, CFG, sampling), all runs
// submitted at once so they share batched steps. VQA starts from the fixture's codes rather than an image file,
// so it enters below admission: the same scheduler, runner worker and sequences the engine uses.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readBundle } from '../src/model/bundle.ts';
import type { FinishReason, ImageEvent } from '../src/model/engine-types.ts';
import { startEngine, type UniTokEngine } from '../src/model/main-thread/engine.ts';
import { renderChat, textToImageIds, withImages } from '../src/model/main-thread/prompts.ts';
import { GenerationRequest, TextSequence } from '../src/model/main-thread/request.ts';
import { Scheduler } from '../src/model/main-thread/scheduler.ts';
import { LlamaTokenizer } from '../src/model/main-thread/text-tokenizer.ts';
import { RunnerClient } from '../src/model/main-thread/workers.ts';
import { fixturesDir, type LoadedTensor, loadTensors } from './helpers/tensors.ts';

const IMAGE_TOKEN_INDEX = -200;
const ints = (t: LoadedTensor) => Array.from(t.data as BigInt64Array, Number);

interface RunParams {
  temperature: number;
  top_k?: number;
  top_p?: number;
  seed?: number;
  cfg_scale?: number;
}

for (const variant of ['tiny', 'fp32']) {
  const dir = fixturesDir('reference_loop', variant);
  const { tensors: T, meta } = loadTensors(dir);
  // meta.bundle is the repository's models/tiny, or a bundle written next to the fixtures.
  const bundleDir = [join(dir, '..', meta.bundle as string), meta.bundle as string].find((p) =>
    existsSync(p),
  ) as string;
  const tokenizer = LlamaTokenizer.load(bundleDir);
  const bundle = readBundle(bundleDir);

  describe(`reference loop, ${variant} bundle`, () => {
    test('prompt templates give the reference ids', () => {
      const { text, images } = renderChat(bundle.chat, [
        {
          role: 'user',
          content: [
            { type: 'image', data: Buffer.alloc(0) },
            { type: 'text', text: meta.question as string },
          ],
        },
      ]);
      assert.equal(images.length, 1);
      const ids = tokenizer
        .encodePrompt(text)
        .flatMap((s) => (s.type === 'text' ? s.ids : [IMAGE_TOKEN_INDEX]));
      assert.deepEqual(ids, ints(T['vqa.input_ids']));
      const { cond, uncond } = textToImageIds(tokenizer, bundle.textToImage, meta.prompt as string);
      assert.deepEqual(cond, ints(T['t2i.cond_ids']));
      assert.deepEqual(uncond, ints(T['t2i.uncond_ids']));
    });

    describe('VQA tokens (scheduler + runner worker, from the fixture codes)', () => {
      let runner: RunnerClient;
      let scheduler: Scheduler;
      before(async () => {
        runner = await RunnerClient.start({ bundleDir, device: 'cpu', slots: 4 });
        scheduler = new Scheduler(runner, {
          slots: 4,
          maxQueue: 8,
          onFailure: (_, err) => assert.fail(err),
        });
      });
      after(async () => {
        await scheduler.close();
        await runner.close();
      });

      test('greedy and seeded runs, decoded together in one batch', async () => {
        const ids = ints(T['vqa.input_ids']);
        const cut = ids.indexOf(IMAGE_TOKEN_INDEX);
        const codes = Int32Array.from(ints(T['vqa.codes']));
        const parts = [
          { type: 'text' as const, ids: ids.slice(0, cut) },
          { type: 'image' as const },
          { type: 'text' as const, ids: ids.slice(cut + 1) },
        ];
        const prompt = withImages(parts, [codes]);
        const promptLength = ids.length - 1 + codes.length / bundle.image.codesPerToken;
        const runs = meta.text_runs as Record<string, RunParams>;
        const results = await Promise.all(
          Object.entries(runs).map(
            ([name, p]) =>
              new Promise<{ name: string; tokens: number[]; reason: FinishReason }>((resolve) => {
                const tokens: number[] = [];
                const req = new GenerationRequest(name);
                const sampling = { temperature: p.temperature, topK: p.top_k ?? 0, topP: p.top_p ?? 1 };
                const output = {
                  token: (id: number) => tokens.push(id) < 0,
                  finish: (reason: FinishReason) => resolve({ name, tokens, reason }),
                };
                const max = meta.max_new_tokens as number;
                new TextSequence({
                  request: req,
                  prompt,
                  promptLength,
                  sampling,
                  seed: p.seed ?? 0,
                  eos: bundle.special.eos,
                  maxTokens: max,
                  output,
                });
                scheduler.submit(req);
              }),
          ),
        );
        for (const { name, tokens, reason } of results) {
          assert.deepEqual(tokens, ints(T[`vqa.${name}.tokens`]), `vqa.${name}`);
          assert.equal(
            reason,
            (meta.finish_reason as Record<string, string>)[name],
            `vqa.${name} finish reason`,
          );
        }
        assert.ok(scheduler.stats().lastBatch >= 2, 'the runs were not batched together');
      });
    });

    describe('image codes (the whole engine)', () => {
      let engine: UniTokEngine;
      before(async () => {
        engine = await startEngine({
          model: bundleDir,
          device: 'cpu',
          maxQueue: 8,
          maxBatch: 8,
        });
        await engine.loaded;
        assert.equal(engine.info().status, 'ready', engine.info().statusMessage);
      });
      after(() => engine.close());

      test('greedy, seeded, filtered and CFG-less runs, submitted together', async () => {
        const runs = meta.image_runs as Record<string, RunParams>;
        const N = bundle.image.visualTokens;
        const K = bundle.image.codesPerToken;
        const stepsBefore = engine.stats().steps ?? 0;
        const streams = await Promise.all(
          Object.entries(runs).map(async ([name, p]) => {
            const stream = await engine.submitImage({
              id: name,
              n: 1,
              signal: new AbortController().signal,
              prompt: meta.prompt as string,
              sampling: {
                temperature: p.temperature,
                topK: p.top_k ?? 0,
                topP: p.top_p ?? 1,
                seed: p.seed ?? 0,
                guidanceScale: p.cfg_scale ?? 1,
              },
              previewAt: [],
            });
            return { name, stream };
          }),
        );
        for (const { name, stream } of streams) {
          const grid = new Array<number>(K * N).fill(-1);
          const events: ImageEvent[] = [];
          for await (const e of stream) {
            events.push(e);
            if (e.type !== 'codes') continue;
            e.codes.forEach((c, k) => {
              grid[k * N + e.index] = c;
            });
          }
          assert.deepEqual(grid, ints(T[`t2i.${name}.codes`]), `t2i.${name}`);
          assert.equal(events.at(-1)?.type, 'image', `t2i.${name}: ends with the rendered image`);
        }
        // Four images of N tokens each took about N steps per runner (stats add the runners' steps), not 4N:
        // they advanced together.
        const runners = engine.layout?.runners ?? 1;
        assert.ok(
          (engine.stats().steps ?? 0) - stepsBefore <= (N + 1) * runners,
          `took ${(engine.stats().steps ?? 0) - stepsBefore} steps`,
        );
      });
    });
  });
}
