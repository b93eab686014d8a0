// Small DOM helpers shared by the views: an element builder, the banner
// area, dialogs, and formatting. No HTML strings are ever parsed, so no
// server-supplied text can become markup.

/**
 * Builds an element. props: class, text, dataset, on (event → handler),
 * and any other attribute or property (value, checked, disabled, hidden...).
 * Children may be strings, nodes, arrays, null or false.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'on') for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
/** A fresh id for label/input pairs. */
export function nextId(prefix = 'f') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field: label, control, optional hint. */
export function field(label, control, hint) {
  control.id = control.id || nextId();
  const hintEl = hint ? h('p', { class: 'hint', id: `${control.id}-hint`, text: hint }) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id, text: label }), control, hintEl);
}

/** A checkbox with its label on the right. */
export function checkbox(label, props = {}) {
  const input = h('input', { type: 'checkbox', id: nextId('c'), ...props });
  return { input, el: h('label', { class: 'check', for: input.id }, input, h('span', { text: label })) };
}

// ---- banners ----

const area = () => document.getElementById('banners');

/**
 * Shows a banner at the top of the page. kind: error, warning, info or
 * success. A banner with the id of a shown one replaces it. actions:
 * [{label, onClick}].
 */
export function showBanner({ id = nextId('banner'), kind = 'error', title, text, actions = [] }) {
  hideBanner(id);
  const banner = h('div', { class: `banner banner-${kind}`, role: kind === 'error' ? 'alert' : 'status', dataset: { banner: id } },
    h('div', { class: 'banner-body' }, h('strong', { class: 'banner-title', text: title }), text ? h('p', { text }) : null),
    h('div', { class: 'banner-actions' },
      actions.map((a) => h('button', { type: 'button', class: 'btn btn-small', text: a.label, on: { click: a.onClick } })),
      h('button', { type: 'button', class: 'btn btn-small btn-quiet', 'aria-label': 'Dismiss', text: '×', on: { click: () => banner.remove() } })));
  area().append(banner);
  return id;
}

export function hideBanner(id) {
  for (const el of area().querySelectorAll('[data-banner]')) if (el.dataset.banner === id) el.remove();
}

export function clearBanners() {
  area().replaceChildren();
}

// ---- dialogs ----

/**
 * Asks for confirmation in a modal dialog. Resolves true when confirmed.
 * The safe choice (Cancel) has the focus first; Escape cancels.
 */
export function confirmDialog({ title, text, confirmLabel, danger = false }) {
  return new Promise((resolve) => {
    const cancel = h('button', { type: 'button', class: 'btn', text: 'Cancel', value: 'cancel' });
    const ok = h('button', { type: 'button', class: `btn ${danger ? 'btn-danger' : 'btn-primary'}`, text: confirmLabel });
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': nextId('dlg') },
      h('h2', { text: title }), h('p', { text }), h('div', { class: 'dialog-actions' }, cancel, ok));
    dialog.querySelector('h2').id = dialog.getAttribute('aria-labelledby');
    const finish = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    cancel.addEventListener('click', () => finish(false));
    ok.addEventListener('click', () => finish(true));
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); finish(false); });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/** Disables a button and shows a working label while fn runs. */
export async function busy(button, label, fn) {
  const before = button.textContent;
  button.disabled = true;
  button.textContent = label;
  button.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.textContent = before;
    button.removeAttribute('aria-busy');
  }
}

// ---- formatting ----

/** A creation time (epoch seconds) in the reader's locale. */
export function formatTime(epochSeconds) {
  if (epochSeconds == null) return '—';
  return new Date(epochSeconds * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** hh:mm:ss.mmm for log lines. */
export function clock(date = new Date()) {
  return date.toTimeString().slice(0, 8) + '.' + String(date.getMilliseconds()).padStart(3, '0');
}

/** A button that copies text and says so. */
export function copyButton(text, what) {
  const button = h('button', { type: 'button', class: 'btn btn-small btn-quiet', text: 'Copy', 'aria-label': `Copy ${what}` });
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Copy failed';
    }
    setTimeout(() => { button.textContent = 'Copy'; }, 1500);
  });
  return button;
}

/** A status pill: ACTIVE, CREATING, connected... */
export function pill(text, tone = 'neutral') {
  return h('span', { class: `pill pill-${tone}`, text });
}
