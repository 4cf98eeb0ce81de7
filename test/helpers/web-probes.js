// Browser-side helpers for test/web-e2e.test.ts, injected into the page as a plain script (page.addInitScript),
// so they run as written: the project's TypeScript has no DOM library, and tsx would rewrite inline functions.
window.e2e = {
  /** Attaches a PNG to the chat the two ways a test cannot do with real input: drag and drop, and paste. */
  dropAndPaste(b64) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dropped = new DataTransfer();
    dropped.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
    document
      .getElementById('panel-chat')
      .dispatchEvent(new DragEvent('drop', { dataTransfer: dropped, bubbles: true, cancelable: true }));
    const pasted = new DataTransfer();
    pasted.items.add(new File([bytes], 'pasted.png', { type: 'image/png' }));
    document
      .getElementById('chat-input')
      .dispatchEvent(new ClipboardEvent('paste', { clipboardData: pasted, bubbles: true, cancelable: true }));
  },

  /**
   * Keeps a copy of an image's canvas each time a preview is drawn on it, and calls the test's exposed
   * `e2ePreviewDrawn` at once (a mutation observer reports immediately, where polling would add its own delay).
   */
  recordPreviews() {
    const frames = [];
    const observer = new MutationObserver((records) => {
      for (const r of records) frames.push(r.target.querySelector('canvas')?.toDataURL() ?? '');
      window.e2ePreviewDrawn?.();
    });
    observer.observe(document.getElementById('gen-results'), {
      subtree: true,
      attributeFilter: ['data-previews'],
    });
    this.previews = { frames, observer };
  },

  /** Stops recording; returns the frames as data: URLs. */
  takePreviews() {
    this.previews.observer.disconnect();
    return this.previews.frames.filter(Boolean);
  },
};
