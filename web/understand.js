// Understand panel: zero-shot classification of one image (drop, paste or pick) against typed labels, through
// POST /v1/zero-shot-image-classification; each label's score shown as a bar, highest first.
import { postJson } from './api.js';
import { readAsDataUrl } from './files.js';

const $ = (id) => document.getElementById(id);

export function initUnderstand(ready) {
  const form = $('zs-form');
  const drop = $('zs-drop');
  const preview = $('zs-preview');
  const fileInput = $('zs-file');
  const errorBox = $('zs-error');
  const scores = $('zs-scores');
  const run = $('zs-run');
  let image = null;

  const showError = (message) => {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  };

  async function use(file) {
    if (!file?.type.startsWith('image/')) {
      showError('That is not an image file.');
      return;
    }
    showError('');
    image = await readAsDataUrl(file);
    preview.src = image;
    preview.alt = file.name || 'the image to classify';
    preview.hidden = false;
    scores.replaceChildren();
  }

  ready.then((model) => {
    const clip = model.embeddings;
    if (!clip) return;
    $('zs-template').placeholder = `empty = the model's "${clip.zero_shot_template}"`;
    if (clip.text_tokenizer === null) {
      showError('This model cannot embed text (it has no CLIP text tokenizer), so it cannot score labels.');
      run.disabled = true;
    }
  });

  $('zs-pick').addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', () => use(fileInput.files[0]));
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('dropping');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('dropping'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('dropping');
    use(event.dataTransfer.files[0]);
  });
  $('panel-understand').addEventListener('paste', (event) => {
    const file = [...event.clipboardData.files].find((f) => f.type.startsWith('image/'));
    if (file) {
      event.preventDefault();
      use(file);
    }
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const labels = $('zs-labels')
      .value.split(',')
      .map((l) => l.trim())
      .filter(Boolean);
    if (!image) return showError('Choose an image first.');
    if (labels.length === 0) return showError('Type at least one label.');
    const template = $('zs-template').value.trim();
    showError('');
    run.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      const model = await ready;
      const reply = await postJson('/v1/zero-shot-image-classification', {
        model: model.id,
        image,
        candidate_labels: labels,
        ...(template ? { hypothesis_template: template } : {}),
      });
      scores.replaceChildren(
        ...reply.data.map(({ label, score }) => {
          const item = document.createElement('li');
          item.className = 'score';
          const name = document.createElement('span');
          name.textContent = label;
          const bar = document.createElement('meter');
          bar.min = 0;
          bar.max = 1;
          bar.value = score;
          bar.setAttribute('aria-label', label);
          const value = document.createElement('span');
          value.className = 'muted';
          value.textContent = `${(100 * score).toFixed(1)}%`;
          item.append(name, bar, value);
          return item;
        }),
      );
    } catch (err) {
      showError(err.message);
    } finally {
      run.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });
}
