// The page for console addresses that lead nowhere.

import { h } from '../ui.js';

export default function notFoundView({ main }) {
  main.append(h('section', { class: 'card narrow' },
    h('h1', { tabindex: '-1', text: 'Page not found' }),
    h('p', { text: 'There is no console page at this address.' }),
    h('p', {}, h('a', { href: '/console/channels', class: 'btn btn-primary', text: 'Go to channels' }))));
}
