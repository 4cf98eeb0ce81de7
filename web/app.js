// Page entry: finds the served model (asking for an API key if the server wants one), then starts the chat,
// image-generation and understanding panels, which get the model description through `ready`.
import { ApiError, getApiKey, getJson, onAuthError, setApiKey } from './api.js';
import { initChat } from './chat.js';
import { initGenerate } from './generate.js';
import { initUnderstand } from './understand.js';

const $ = (id) => document.getElementById(id);

/** Example prompts (the default demo model's world): a click puts the text in its field, ready to send. */
function initExamples() {
  for (const button of document.querySelectorAll('button[data-example]')) {
    button.addEventListener('click', () => {
      const field = $(button.dataset.example);
      field.value = button.textContent;
      field.focus();
    });
  }
}

/** ARIA tabs: click or arrow keys (Home/End too) switch panels; only the selected tab is in the tab order. */
function initTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab) => {
    for (const t of tabs) {
      const selected = t === tab;
      t.setAttribute('aria-selected', String(selected));
      t.tabIndex = selected ? 0 : -1;
      $(t.getAttribute('aria-controls')).hidden = !selected;
    }
    tab.focus();
  };
  for (const [i, tab] of tabs.entries()) {
    tab.addEventListener('click', () => select(tab));
    tab.addEventListener('keydown', (event) => {
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[event.key];
      if (to === undefined) return;
      event.preventDefault();
      select(tabs[(to + tabs.length) % tabs.length]);
    });
  }
}

function showKeyForm(message) {
  const form = $('key-form');
  form.hidden = false;
  $('key-status').textContent = message;
  $('key-status').classList.add('error-text');
  $('api-key').focus();
}

async function loadModel() {
  const info = $('model-info');
  for (;;) {
    try {
      const health = await fetch('/health');
      if (health.status === 503) {
        const body = await health.json().catch(() => ({}));
        info.textContent = `${body.error?.message ?? 'The model is loading'}. Waiting…`;
        await new Promise((resolve) => setTimeout(resolve, 2000));
        continue;
      }
      const { data } = await getJson('/v1/models');
      const model = data[0];
      const { size, visual_tokens_per_image: tokens, codes_per_visual_token: codes } = model.image;
      info.textContent = `Model ${model.id} · images ${size}, ${tokens} visual tokens of ${codes} codes`;
      return model;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        info.textContent = 'This server needs an API key.';
        // Wait for the person to submit a key, then try again.
        await new Promise((resolve) => $('key-form').addEventListener('submit', resolve, { once: true }));
        continue;
      }
      info.textContent = `Cannot talk to the server: ${err.message}. Retrying…`;
      info.classList.add('error-text');
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  }
}

initTabs();
initExamples();
onAuthError((err) =>
  showKeyForm(getApiKey() ? `The server refused this key: ${err.message}` : 'This server needs an API key.'),
);
$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  setApiKey($('api-key').value);
  $('key-status').textContent = 'Checking the key…';
  $('key-status').classList.remove('error-text');
  getJson('/v1/models').then(
    () => {
      $('key-status').textContent = 'Key accepted.';
    },
    () => {}, // a refusal reaches showKeyForm through onAuthError
  );
});
$('api-key').value = getApiKey();

const ready = loadModel();
initChat(ready);
initGenerate(ready);
initUnderstand(ready);
