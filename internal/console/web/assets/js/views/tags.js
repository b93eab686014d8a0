// A tag editor: rows of key and value, add and remove, checked against the
// KVS tag rules (spec 2) before anything is sent.
//
// Spaces are allowed anywhere in a tag key or value (the rules' \p{Z}), so
// "team " and "team" are two different keys. The editor therefore keeps
// text it was given (the channel's current tags) exactly as it is, as long
// as nobody edits that field; only text a person typed, in a new row or
// over a current value, has its leading and trailing white space trimmed,
// because there it is far more often a slip than intended.

import { h, nextId } from '../ui.js';

/** The most tags a channel may have. */
export const MAX_TAGS = 50;
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

/**
 * @param {Array<{Key:string, Value:string}>} initial
 * @param {{hideLegend?: boolean}} [opts] hide the legend where a heading already says "Tags"
 * @returns {{el: HTMLElement, read: () => Array<{Key:string, Value:string}>}}
 * read() throws an Error naming the first problem.
 */
export function tagEditor(initial = [], { hideLegend = false } = {}) {
  const list = h('ul', { class: 'tag-rows' });
  const add = h('button', { type: 'button', class: 'btn btn-small', text: 'Add tag' });
  const addRow = (tag, focus = false) => {
    const row = tagRow(tag, () => { row.remove(); add.focus(); });
    list.append(row);
    if (focus) row.querySelector('input').focus();
  };
  add.addEventListener('click', () => addRow(null, true));
  initial.forEach((t) => addRow(t));
  const legend = h('legend', { class: hideLegend ? 'visually-hidden' : null, text: 'Tags' });
  const empty = h('p', { class: 'hint tag-empty', text: 'No tags.' });
  const el = h('fieldset', { class: 'tags' }, legend, empty, list, add);
  return { el, read: () => readTags(list) };
}

// The text each input started with when it came from a current tag; the
// inputs of new rows are not in it.
const givenText = new WeakMap();

// A row for a current tag, or an empty one when tag is null.
function tagRow(tag, onRemove) {
  const key = h('input', { name: 'tagKey', value: tag ? tag.Key : '', maxLength: 128, spellcheck: 'false', id: nextId('tk') });
  const value = h('input', { name: 'tagValue', value: tag ? tag.Value : '', maxLength: 256, spellcheck: 'false', id: nextId('tv') });
  if (tag) {
    givenText.set(key, tag.Key);
    givenText.set(value, tag.Value);
  }
  return h('li', { class: 'tag-row' },
    h('div', { class: 'field' }, h('label', { for: key.id, text: 'Key' }), key),
    h('div', { class: 'field' }, h('label', { for: value.id, text: 'Value' }), value),
    h('button', { type: 'button', class: 'btn btn-small btn-quiet', text: 'Remove', 'aria-label': tag ? `Remove tag ${tag.Key}` : 'Remove tag', on: { click: onRemove } }));
}

function readTags(list) {
  const tags = [];
  const seen = new Set();
  for (const row of list.children) {
    const [keyInput, valueInput] = row.querySelectorAll('input');
    const Key = inputText(keyInput);
    const Value = inputText(valueInput);
    if (!Key && !Value) continue;
    const problem = tagProblem(Key, Value, seen);
    if (problem) {
      keyInput.focus();
      throw new Error(problem);
    }
    seen.add(Key);
    tags.push({ Key, Value });
  }
  if (tags.length > MAX_TAGS) throw new Error(`A channel has at most ${MAX_TAGS} tags.`);
  return tags;
}

// The input's text: exactly as given when unchanged, trimmed once edited.
function inputText(input) {
  const given = givenText.get(input);
  return given !== undefined && input.value === given ? given : input.value.trim();
}

function tagProblem(key, value, seen) {
  if (!key) return `The tag with value “${value}” needs a key.`;
  if (key.toLowerCase().startsWith('aws:')) return `Tag keys may not start with “aws:” (${key}).`;
  if (!TAG_CHARS.test(key) || !TAG_CHARS.test(value)) {
    return `Tag “${key}” has characters outside letters, digits, spaces and _ . : / = + - @.`;
  }
  if (seen.has(key)) return `The tag key “${key}” appears twice.`;
  return '';
}
