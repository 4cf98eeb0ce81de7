// The decoder graphs' KV cache as the benches use it: the runner's own KvCache (kv-cache.ts), `batch` rows laid
// out for `length` positions, fed to each run as its past_key_values inputs, the run's new keys and values written
// back after each row's past positions (or, for a graph with GroupQueryAttention's present outputs, the depth head,
// written in place by the run), as the engine does. A right-padded row's padding is written too, past its length,
// where nothing reads it (the next run at that row's length overwrites it).
import type * as ort from 'onnxruntime-node';
import { KvCache } from '../src/model/worker-thread/kv-cache.ts';

/** A KV cache for `session` and `run(feeds, past, outputs)`, which adds the row lengths and the cache to the feeds. */
export function decoderKv(session: ort.InferenceSession, batch: number, length: number) {
  const kv = new KvCache(session, batch, length);
  kv.reserve(length);
  const run = async (
    feeds: Record<string, ort.Tensor>,
    past: number[],
    outputs: string[],
  ): Promise<ort.InferenceSession.OnnxValueMapType> => {
    const rows = past.map((p) => ({ past: p, count: feeds.inputs_embeds.dims[1] }));
    kv.lengths(feeds, rows);
    const fetches = { ...Object.fromEntries(outputs.map((o) => [o, null])), ...kv.bind(0, batch, feeds) };
    const out = await session.run(feeds, fetches);
    kv.append(0, out, rows);
    return out;
  };
  return { kv, run };
}
