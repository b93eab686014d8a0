// The "Create channel" dialog: name, message TTL and tags, checked in the
// form first and then by the server, whose error is shown in the dialog.

import { h, field, busy, nextId, replace } from '../ui.js';
import { describeError } from '../errors.js';
import { tagEditor } from './tags.js';

/** Opens the dialog; onCreated(name) runs after the server accepted it. */
export function openCreateDialog(app, onCreated) {
  const name = h('input', { name: 'channelName', required: true, maxLength: 256, pattern: '[A-Za-z0-9_.\\-]+', spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off' });
  const ttl = h('input', { name: 'messageTtl', type: 'number', min: 5, max: 120, step: 1, value: '60', required: true, inputMode: 'numeric' });
  const tags = tagEditor();
  const error = h('div', { class: 'inline-error', role: 'alert' });
  const cancel = h('button', { type: 'button', class: 'btn', text: 'Cancel' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', text: 'Create channel' });
  const titleId = nextId('dlg');
  const form = h('form', { class: 'stack', method: 'dialog' },
    h('h2', { id: titleId, text: 'Create a signaling channel' }),
    field('Name', name, 'Letters, digits, and . _ - (up to 256).'),
    field('Message TTL (seconds)', ttl, 'How long a message for an absent peer is kept: 5 to 120 seconds.'),
    tags.el,
    error,
    h('div', { class: 'dialog-actions' }, cancel, submit));
  const dialog = h('dialog', { class: 'dialog dialog-wide', 'aria-labelledby': titleId }, form);
  const close = () => { dialog.close(); dialog.remove(); };
  cancel.addEventListener('click', close);
  dialog.addEventListener('cancel', (e) => { e.preventDefault(); close(); });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    replace(error);
    busy(submit, 'Creating…', async () => {
      try {
        const input = { name: name.value.trim(), ttlSeconds: Number(ttl.value), tags: tags.read() };
        await app.kvs.createChannel(input);
        close();
        onCreated(input.name);
      } catch (err) {
        const { title, text } = describeError(err, 'Could not create the channel');
        replace(error, h('strong', { text: title }), text ? h('p', { text }) : null);
      }
    });
  });
  document.body.append(dialog);
  dialog.showModal();
  name.focus();
}
