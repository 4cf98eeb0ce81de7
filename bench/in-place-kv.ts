// The decoder graphs' KV caches as the benches bind them: one zeroed buffer per past_key_values input, passed as
// that input and as the matching present fetch, so GroupQueryAttention updates it in place (as kv-cache.ts does).
import * as ort from 'onnxruntime-node';

/** Buffers of `batch` rows of `length` positions for `session`; `bind(feeds)` adds them and returns the fetches. */
export function inPlaceKv(session: ort.InferenceSession, batch: number, length: number, fill = 0) {
  const names = session.inputNames.filter((n) => n.startsWith('past_key_values.'));
  const meta = session.inputMetadata.find((m) => m.name === names[0]) as unknown as { shape: number[] };
  const dims = [batch, Number(meta.shape[1]), length, Number(meta.shape[3])];
  const buffers = names.map((name) => ({
    name,
    t: new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b)).fill(fill), dims),
  }));
  const bind = (feeds: Record<string, ort.Tensor>): Record<string, ort.Tensor | null> => {
    const fetches: Record<string, ort.Tensor | null> = {};
    for (const { name, t } of buffers) {
      feeds[name] = t;
      fetches[name.replace('past_key_values.', 'present.')] = t;
    }
    return fetches;
  };
  return { bind, buffers, heads: dims[1], headDim: dims[3] };
}
