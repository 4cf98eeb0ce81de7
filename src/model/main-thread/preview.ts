// Previews of a partly generated image. Visual tokens arrive in raster order, so after `done` tokens the first
// `done` cells of the G x G grid are known.
//
// The UniTok decoder is a ViT with full attention: every cell's pixels depend on the whole grid, so the unknown
// cells must hold *something*, and what they hold bleeds into the known ones. A constant "neutral" code is out
// of distribution for the decoder (a flat field of one code never occurs in real images) and visibly tints
// the known rows. We fill each unknown cell with the codes of the nearest known cell above it in its column
// (the last generated row, extended downwards), or with the last generated cell while the first row is still
// incomplete: real codes from this very image, so the known part decodes close to how it will finally look.
// After decoding, the unknown cells are painted with the mean colour of the known ones, so the preview shows
// exactly what has been generated and nothing invented.

/** A copy of `grid` [K, N] (codebook-major, N = side²) whose cells from `done` on are filled as described above. */
export function fillPartialGrid(
  grid: Int32Array,
  codesPerToken: number,
  side: number,
  done: number,
): Int32Array {
  const N = side * side;
  if (done < 1 || done > N) throw new RangeError(`a preview needs 1..${N} generated tokens, got ${done}`);
  const out = Int32Array.from(grid);
  for (let n = done; n < N; n++) {
    const col = n % side;
    // The last known cell of this column, else the last known cell.
    const source = col <= done - 1 ? col + side * Math.floor((done - 1 - col) / side) : done - 1;
    for (let k = 0; k < codesPerToken; k++) out[k * N + n] = grid[k * N + source];
  }
  return out;
}

/** Paints the cells from `done` on of a CHW image in [-1, 1] (size x size, a side x side grid) with the known cells' mean colour. */
export function maskUnknownCells(
  pixels: Float32Array,
  size: number,
  side: number,
  done: number,
): Float32Array {
  const cell = size / side;
  const plane = size * size;
  const known = (y: number, x: number) => Math.floor(y / cell) * side + Math.floor(x / cell) < done;
  const mean = [0, 0, 0];
  let count = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (!known(y, x)) continue;
      for (let c = 0; c < 3; c++) mean[c] += pixels[c * plane + y * size + x];
      count++;
    }
  }
  for (let c = 0; c < 3; c++) mean[c] /= Math.max(count, 1);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (known(y, x)) continue;
      for (let c = 0; c < 3; c++) pixels[c * plane + y * size + x] = mean[c];
    }
  }
  return pixels;
}
