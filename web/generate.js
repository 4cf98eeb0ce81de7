// Image-generation panel over the WebSocket /v1/images/stream: each image's grid of visual tokens fills in as
// their code groups arrive, preview renders are drawn beneath as they come, and a progress bar estimates the
// time left. Cancel stops the job on the server; finished images can be downloaded.
import { explainStreamFailure, openImageStream } from './api.js';

const $ = (id) => document.getElementById(id);
const seconds = (ms) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 0)} s`;

/** Grid of `total` visual tokens with the image's aspect ratio (row-major, as the server numbers them). */
function gridOf(total, width, height) {
  const cols = Math.max(1, Math.round(Math.sqrt((total * width) / height)));
  return { cols, rows: Math.ceil(total / cols) };
}

/**
 * A colour for one visual token's codes. It is not the image (only the decoder knows that); it is a
 * fingerprint of the codes, so each cell visibly fills the moment its code group arrives.
 */
function codeColour(codes) {
  const hash = codes.reduce((h, c) => (h * 31 + c) >>> 0, 7);
  return `hsl(${hash % 360} 55% ${35 + (hash % 30)}%)`;
}

function pngBlobUrl(b64) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return URL.createObjectURL(new Blob([bytes], { type: 'image/png' }));
}

/** One image of a job: its live canvas, then the final PNG with a download link. */
class ImageView {
  constructor(index, job) {
    this.index = index;
    this.job = job;
    this.codes = new Array(job.total).fill(null);
    this.done = 0;
    this.preview = null; // {img, done}
    this.previews = 0;
    this.drawPending = false;
    this.finalQueued = false;
    // Previews and the final image are shown in arrival order: a preview still loading is drawn before the
    // final replaces it, so even a model that renders them all within a few milliseconds shows its previews.
    this.renders = Promise.resolve();

    // Draw at least 256 px wide so grid lines stay crisp when a small model's image is scaled up.
    const scale = Math.max(1, Math.ceil(256 / job.width));
    this.canvas = document.createElement('canvas');
    this.canvas.width = job.width * scale;
    this.canvas.height = job.height * scale;
    this.canvas.setAttribute('role', 'img');
    this.caption = document.createElement('figcaption');
    this.figure = document.createElement('figure');
    this.figure.className = 'result';
    this.figure.dataset.state = 'running';
    this.figure.dataset.previews = '0';
    this.figure.append(this.canvas, this.caption);
    this.item = document.createElement('li');
    this.item.append(this.figure);
    this.describe();
    this.draw();
  }

  describe() {
    const { total } = this.job;
    const label = `Image ${this.index + 1}: ${this.done} of ${total} visual tokens`;
    this.canvas.setAttribute('aria-label', `${label}, ${this.previews} previews`);
    this.caption.textContent = label;
  }

  addCodes(index, codes) {
    this.codes[index] = codes;
    this.scheduleDraw();
  }

  setDone(done) {
    this.done = done;
    this.describe();
  }

  /** Queues a render step after the earlier ones; a step that fails (a broken preview) is skipped. */
  queue(step) {
    this.renders = this.renders.then(step).catch(() => {});
    return this.renders;
  }

  addPreview(b64, done) {
    return this.queue(async () => {
      const img = new Image();
      // `load`, not img.decode(): decode() may wait for a rendered frame, which a busy page delays.
      await new Promise((resolve, reject) => {
        img.onload = resolve;
        img.onerror = reject;
        img.src = `data:image/png;base64,${b64}`;
      });
      if (this.figure.dataset.state !== 'running') return; // cancelled meanwhile
      this.preview = { img, done };
      this.previews += 1;
      this.draw(); // now, not on the next frame: `data-previews` and the timing count previews on screen
      this.figure.dataset.previews = String(this.previews);
      this.describe();
      this.job.onPreview();
    });
  }

  scheduleDraw() {
    if (this.drawPending) return;
    this.drawPending = true;
    requestAnimationFrame(() => {
      this.drawPending = false;
      this.draw();
    });
  }

  /** The latest preview, then code-coloured cells for tokens it does not cover yet, then the grid lines. */
  draw() {
    const { cols, rows } = this.job.grid;
    const ctx = this.canvas.getContext('2d');
    const cw = this.canvas.width / cols;
    const ch = this.canvas.height / rows;
    ctx.imageSmoothingEnabled = false;
    ctx.fillStyle = '#1d2230';
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    const covered = this.preview?.done ?? 0;
    if (this.preview) ctx.drawImage(this.preview.img, 0, 0, this.canvas.width, this.canvas.height);
    for (let i = covered; i < this.codes.length; i++) {
      const codes = this.codes[i];
      if (!codes) continue;
      ctx.fillStyle = codeColour(codes);
      ctx.fillRect((i % cols) * cw, Math.floor(i / cols) * ch, cw, ch);
    }
    // Grid lines only over the part still being generated, so the preview itself stays clean.
    ctx.strokeStyle = 'rgb(255 255 255 / 0.25)';
    ctx.lineWidth = 1;
    for (let i = covered; i < this.codes.length; i++) {
      ctx.strokeRect((i % cols) * cw + 0.5, Math.floor(i / cols) * ch + 0.5, cw - 1, ch - 1);
    }
  }

  /** Queues the final image; resolves with its blob URL once it is shown. */
  complete(b64, fileName) {
    this.finalQueued = true;
    const url = pngBlobUrl(b64);
    return this.queue(() => {
      const img = document.createElement('img');
      img.src = url;
      img.alt = `Image ${this.index + 1} for “${this.job.prompt}”`;
      if (this.job.width < 128) img.className = 'pixelated';
      this.canvas.replaceWith(img);
      this.figure.dataset.state = 'done';
      const link = document.createElement('a');
      link.href = url;
      link.download = fileName;
      link.textContent = 'Download PNG';
      this.caption.textContent = `Image ${this.index + 1} · `;
      this.caption.append(link);
    }).then(() => url);
  }

  /** Marks an unfinished image as cancelled (or failed); one whose final image arrived stays as it is. */
  stop(state) {
    if (this.finalQueued || this.figure.dataset.state !== 'running') return;
    this.figure.dataset.state = state;
    this.caption.textContent = `Image ${this.index + 1}: ${state} at ${this.done} of ${this.job.total} visual tokens`;
  }
}

export function initGenerate(ready) {
  // Empty fields take the model's defaults; show them as placeholders.
  ready.then((model) => {
    const d = model.defaults?.image;
    if (!d) return;
    $('gen-guidance').placeholder = String(d.guidance_scale);
    $('gen-temperature').placeholder = String(d.temperature);
    $('gen-best-of').placeholder = String(d.best_of ?? 1);
  });
  const form = $('gen-form');
  const startButton = $('gen-start');
  const cancelButton = $('gen-cancel');
  const progress = $('gen-progress');
  const progressText = $('gen-progress-text');
  // Per-token progress would flood a screen reader; only the start and the end of a job are announced.
  const announce = (text) => {
    $('gen-announce').textContent = text;
  };
  const errorBox = $('gen-error');
  const results = $('gen-results');
  let job = null;
  let blobUrls = [];

  const showError = (message) => {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  };
  const number = (id) => {
    const value = $(id).valueAsNumber;
    return Number.isFinite(value) ? value : undefined;
  };

  function updateProgress() {
    const views = job.views;
    const done = views.reduce((sum, v) => sum + v.done, 0);
    const total = job.n * job.total;
    progress.max = total;
    progress.value = done;
    const codes = `${done * job.codesPerToken} / ${total * job.codesPerToken} codes`;
    // The rate so far predicts the rest; admission and prompt encoding are before `started`, so not counted.
    const elapsed = performance.now() - job.startedAt;
    const left = done > 0 ? ((total - done) * elapsed) / done : null;
    const eta = left === null ? 'estimating time left…' : `about ${seconds(left)} left`;
    progressText.textContent = `${done} / ${total} visual tokens (${codes}) · ${eta}${job.firstPreviewText()}`;
  }

  function finish(state, message) {
    if (!job) return;
    const current = job;
    job = null;
    current.socket.close();
    for (const view of current.views) view.stop(state);
    startButton.disabled = false;
    cancelButton.disabled = true;
    form.setAttribute('aria-busy', 'false');
    results.dataset.state = state;
    const elapsed = seconds(performance.now() - current.requestedAt);
    const done = current.views.reduce((sum, v) => sum + v.done, 0);
    const total = current.n * current.total;
    if (state === 'done') progressText.textContent = `Done in ${elapsed}${current.firstPreviewText()}.`;
    else if (state === 'cancelled' && current.views.length)
      progressText.textContent = `Cancelled after ${done} of ${total} visual tokens (${elapsed}).`;
    else if (state === 'cancelled') progressText.textContent = 'Cancelled before it started.';
    else progressText.textContent = 'Stopped by an error.';
    announce(progressText.textContent);
    if (message) showError(message);
  }

  function handle(message) {
    if (!job) return;
    const view = job.views[message.image];
    switch (message.type) {
      case 'started': {
        Object.assign(job, { total: message.total, n: message.n, codesPerToken: message.codes_per_token });
        const [width, height] = message.size.split('x').map(Number);
        Object.assign(job, { width, height, grid: gridOf(message.total, width, height) });
        job.startedAt = performance.now();
        job.views = Array.from({ length: message.n }, (_, i) => new ImageView(i, job));
        results.replaceChildren(...job.views.map((v) => v.item));
        updateProgress();
        announce(`Generating ${message.n} image${message.n > 1 ? 's' : ''}.`);
        break;
      }
      case 'codes':
        view.addCodes(message.index, message.codes);
        break;
      case 'progress':
        view.setDone(message.done);
        updateProgress();
        break;
      case 'preview':
        view.addPreview(message.png_b64, message.done);
        break;
      case 'completed': {
        const current = job;
        view.setDone(job.total);
        view.complete(message.png_b64, `unitok-seed${job.seed}-${message.image + 1}.png`).then((url) => {
          blobUrls.push(url);
          if (job === current && current.views.every((v) => v.figure.dataset.state === 'done'))
            finish('done');
        });
        updateProgress();
        break;
      }
      case 'cancelled':
        finish('cancelled');
        break;
      case 'error':
        finish('error', message.error.message);
        break;
    }
  }

  async function start() {
    if (job) return;
    const model = await ready;
    if (job) return; // a second submit while the model was still loading
    showError('');
    for (const url of blobUrls) URL.revokeObjectURL(url);
    blobUrls = [];
    const total = model.image.visual_tokens_per_image;
    // Without a seed the page picks one, so the person can see it (in file names) and reproduce the image.
    const seed = number('gen-seed') ?? Math.floor(Math.random() * 2 ** 31);
    const bestOf = number('gen-best-of') ?? model.defaults?.image?.best_of ?? 1;
    const request = {
      type: 'generate',
      prompt: $('gen-prompt').value.trim(),
      n: number('gen-n') ?? 1,
      guidance_scale: number('gen-guidance'),
      temperature: number('gen-temperature'),
      top_k: number('gen-top-k'),
      top_p: number('gen-top-p'),
      seed,
      best_of: bestOf,
      // Each preview is a decoder run; about 16 per image shows the fill-in without slowing generation much.
      // Best-of shows no previews: the drawing to show is known only once every candidate is drawn.
      preview_every: bestOf > 1 ? 0 : Math.max(1, Math.round(total / 16)),
    };
    const requestedAt = performance.now();
    const current = {
      prompt: request.prompt,
      seed,
      requestedAt,
      views: [],
      firstPreviewMs: null,
      socket: openImageStream(),
      onPreview() {
        if (current.firstPreviewMs !== null) return;
        current.firstPreviewMs = performance.now() - requestedAt;
        results.dataset.firstPreviewMs = String(Math.round(current.firstPreviewMs));
        if (job === current) updateProgress();
      },
      firstPreviewText: () =>
        current.firstPreviewMs === null ? '' : ` · first preview after ${seconds(current.firstPreviewMs)}`,
    };
    job = current;
    let opened = false;
    current.socket.onopen = () => {
      opened = true;
      current.socket.send(JSON.stringify(request));
    };
    current.socket.onmessage = (event) => {
      if (job === current) handle(JSON.parse(event.data));
    };
    current.socket.onclose = async () => {
      if (job !== current) return;
      const reason = opened
        ? 'The connection to the server closed before the images were finished.'
        : (await explainStreamFailure()).message;
      if (job === current) finish('error', reason);
    };
    startButton.disabled = true;
    cancelButton.disabled = false;
    form.setAttribute('aria-busy', 'true');
    delete results.dataset.firstPreviewMs;
    results.replaceChildren();
    results.dataset.state = 'running';
    progress.value = 0;
    progressText.textContent = 'Waiting for the server…';
  }

  function cancel() {
    if (!job) return;
    if (job.socket.readyState !== WebSocket.OPEN) {
      finish('cancelled'); // not connected yet, so nothing runs on the server
      return;
    }
    job.socket.send(JSON.stringify({ type: 'cancel' }));
    cancelButton.disabled = true;
    progressText.textContent = 'Cancelling…';
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    start();
  });
  cancelButton.addEventListener('click', cancel);
  $('panel-generate').addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && job) cancel();
  });
  $('gen-prompt').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
}
