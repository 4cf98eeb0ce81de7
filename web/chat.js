// Chat panel: multi-turn conversation with streamed replies, images attached by picker, drag and drop or paste
// (visual question answering), and image replies (`modalities: ["text","image"]`) shown inline.
import { postStream } from './api.js';
import { readAsDataUrl } from './files.js';

const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function imageElement(url, alt) {
  const img = element('img', 'inline-image');
  img.src = url;
  img.alt = alt;
  return img;
}

export function initChat(ready) {
  const log = $('chat-log');
  const input = $('chat-input');
  const fileInput = $('chat-file');
  const errorBox = $('chat-error');
  const sendButton = $('chat-send');
  const stopButton = $('chat-stop');
  /** The conversation as the API wants it; a turn joins it only once its reply has arrived. */
  let history = [];
  /** Attached, not yet sent: {name, url}. */
  let attachments = [];
  let controller = null;

  const showError = (message) => {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  };

  function renderAttachments() {
    const list = $('attachments');
    list.replaceChildren(
      ...attachments.map((a, i) => {
        const item = element('li', 'attachment');
        item.append(imageElement(a.url, a.name));
        const remove = element('button', 'remove', '×');
        remove.type = 'button';
        remove.setAttribute('aria-label', `Remove ${a.name}`);
        remove.addEventListener('click', () => {
          attachments.splice(i, 1);
          renderAttachments();
          input.focus();
        });
        item.append(remove);
        return item;
      }),
    );
  }

  async function attach(files) {
    showError('');
    for (const file of files) {
      // Only the obvious mistake is caught here; the server judges whether the bytes are a usable image.
      if (!file.type.startsWith('image/')) {
        showError(`“${file.name}” is not an image (${file.type || 'unknown type'}).`);
        continue;
      }
      attachments.push({ name: file.name || 'pasted image', url: await readAsDataUrl(file) });
    }
    renderAttachments();
  }

  function addBubble(role, label) {
    log.querySelector('.empty')?.remove();
    const bubble = element('article', `message ${role}`);
    bubble.setAttribute('aria-label', label);
    log.append(bubble);
    bubble.scrollIntoView({ block: 'end' });
    return bubble;
  }

  function setBusy(busy) {
    sendButton.disabled = busy;
    stopButton.hidden = !busy;
    $('chat-new').disabled = busy;
  }

  async function send() {
    const text = input.value.trim();
    const imageReply = $('chat-image-reply').checked;
    if (!text && attachments.length === 0) return;
    const model = await ready;
    showError('');

    const content = [
      ...attachments.map((a) => ({ type: 'image_url', image_url: { url: a.url } })),
      ...(text ? [{ type: 'text', text }] : []),
    ];
    const userMessage = { role: 'user', content: attachments.length ? content : text };
    const userBubble = addBubble('user', 'You');
    for (const a of attachments) userBubble.append(imageElement(a.url, a.name));
    if (text) userBubble.append(element('p', 'text', text));
    input.value = '';
    attachments = [];
    renderAttachments();

    const reply = addBubble('assistant', 'UniTok');
    reply.setAttribute('aria-busy', 'true');
    const replyText = element('p', 'text');
    reply.append(replyText);
    if (imageReply) replyText.textContent = 'Drawing…';
    // An image reply is drawn from the last user message alone (the server rejects earlier images there).
    const messages = imageReply ? [userMessage] : [...history, userMessage];
    const body = imageReply
      ? { model: model.id, messages, modalities: ['text', 'image'] }
      : // A bound leaves room for follow-ups: a model that never says "stop" (like the random test bundle)
        // would otherwise fill the whole context in one reply, and the next turn could not be asked.
        { model: model.id, messages, max_completion_tokens: Math.floor(model.context_length / 4) };

    controller = new AbortController();
    setBusy(true);
    let answer = '';
    const images = [];
    try {
      for await (const chunk of postStream('/v1/chat/completions', body, controller.signal)) {
        const delta = chunk.choices[0]?.delta?.content;
        if (typeof delta === 'string') {
          answer += delta;
          replyText.textContent = answer;
        } else if (Array.isArray(delta)) {
          for (const part of delta) {
            images.push(part);
            reply.append(imageElement(part.image_url.url, `Image drawn for: ${text}`));
          }
          replyText.remove();
        }
        reply.scrollIntoView({ block: 'end' });
      }
      reply.dataset.state = 'done';
    } catch (err) {
      if (err.name === 'AbortError') {
        reply.dataset.state = 'stopped';
        reply.append(element('p', 'muted', '(stopped)'));
      } else {
        // The turn failed: keep it on screen, marked, but out of the history so the next turn is not poisoned.
        reply.remove();
        userBubble.classList.add('failed');
        userBubble.append(element('p', 'error-text', 'Not sent.'));
        if (!input.value) input.value = text;
        showError(err.message);
        return;
      }
    } finally {
      reply.removeAttribute('aria-busy');
      controller = null;
      setBusy(false);
      input.focus();
    }
    if (!answer && images.length === 0) {
      replyText.textContent = '(empty reply)';
      return; // nothing worth keeping in the conversation
    }
    history.push(userMessage, { role: 'assistant', content: images.length ? images : answer });
  }

  $('chat-form').addEventListener('submit', (event) => {
    event.preventDefault();
    send();
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!controller) send();
    }
  });
  stopButton.addEventListener('click', () => controller?.abort());
  $('chat-new').addEventListener('click', () => {
    history = [];
    log.replaceChildren(element('p', 'empty muted', 'New conversation.'));
    showError('');
    input.focus();
  });
  $('chat-attach').addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', () => {
    attach([...fileInput.files]);
    fileInput.value = ''; // so picking the same file again fires `change`
  });
  input.addEventListener('paste', (event) => {
    const files = [...event.clipboardData.files];
    if (files.length === 0) return; // plain text pastes as usual
    event.preventDefault();
    attach(files);
  });
  const panel = $('panel-chat');
  panel.addEventListener('dragover', (event) => {
    if (!event.dataTransfer.types.includes('Files')) return;
    event.preventDefault();
    panel.classList.add('dropping');
  });
  panel.addEventListener('dragleave', (event) => {
    if (!panel.contains(event.relatedTarget)) panel.classList.remove('dropping');
  });
  panel.addEventListener('drop', (event) => {
    event.preventDefault();
    panel.classList.remove('dropping');
    attach([...event.dataTransfer.files]);
  });
}
