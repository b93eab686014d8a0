// Sign-in: an access key pair typed in, or one click on a loopback
// development server. Either way the keys are tried with a signed
// ListSignalingChannels before they are kept, so a wrong secret is
// reported here and not on the next page.

import { KvsClient } from '../kvs.js';
import { saveCredentials } from '../session.js';
import { h, field, busy, clearBanners } from '../ui.js';

export default function signinView({ app, main, query }) {
  const next = safeNext(query.get('next'));
  const form = signinForm(app, next);
  main.append(h('section', { class: 'auth' },
    h('div', { class: 'card auth-card' },
      h('h1', { tabindex: '-1', text: 'Sign in to Switchboard' }),
      h('p', { class: 'lead', text: 'Use an access key of this server. Every request is signed in this browser with AWS Signature Version 4, exactly as the AWS SDKs sign them.' }),
      app.config.devLogin ? devLoginBox(app, next) : null,
      form,
      h('p', { class: 'fineprint', text: 'The key pair is kept in this tab’s session storage only: closing the tab forgets it.' }))));
  if (!app.config.devLogin) form.querySelector('input').focus();
}

// Only console addresses may follow sign-in.
function safeNext(next) {
  return next && next.startsWith('/console/') && !next.startsWith('//') ? next : '/console/channels';
}

function devLoginBox(app, next) {
  const button = h('button', { type: 'button', class: 'btn btn-primary btn-block', id: 'dev-login', text: 'Sign in with the development keys' });
  button.addEventListener('click', () => busy(button, 'Signing in…', async () => {
    try {
      const response = await fetch('/console/dev-credentials', { cache: 'no-store' });
      const body = await response.json();
      if (!response.ok) throw new Error(body.Message || `The server refused (${response.status})`);
      await verifyAndKeep(app, { accessKeyId: body.accessKeyId, secretAccessKey: body.secretAccessKey, dev: true }, next);
    } catch (err) {
      app.fail(err, 'Could not sign in with the development keys');
    }
  }));
  return h('div', { class: 'devlogin' },
    h('p', { text: 'This is a development server on your own machine: it generated its keys itself, so you can sign in with one click.' }),
    button,
    h('div', { class: 'divider', role: 'separator' }, h('span', { text: 'or use a key pair' })));
}

function signinForm(app, next) {
  const keyId = h('input', { name: 'accessKeyId', autocomplete: 'username', spellcheck: 'false', autocapitalize: 'off', required: true });
  const secret = h('input', { name: 'secretAccessKey', type: 'password', autocomplete: 'current-password', required: true });
  const show = h('button', { type: 'button', class: 'btn btn-small btn-quiet reveal', text: 'Show', 'aria-pressed': 'false', 'aria-label': 'Show the secret' });
  show.addEventListener('click', () => {
    const hidden = secret.type === 'password';
    secret.type = hidden ? 'text' : 'password';
    show.textContent = hidden ? 'Hide' : 'Show';
    show.setAttribute('aria-pressed', String(hidden));
  });
  const token = h('textarea', { name: 'sessionToken', rows: 3, spellcheck: 'false' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', text: 'Sign in' });
  const secretField = field('Secret access key', secret);
  secretField.append(show);
  secretField.classList.add('with-reveal');
  const form = h('form', { class: 'stack', id: 'signin-form' },
    field('Access key ID', keyId),
    secretField,
    h('details', {}, h('summary', { text: 'Temporary credentials (session token)' }),
      field('Session token', token, 'Only for temporary credentials that come with a token.')),
    h('p', { class: 'hint', text: `Region: ${app.config.region} (the server's)` }),
    submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const credentials = { accessKeyId: keyId.value.trim(), secretAccessKey: secret.value.trim() };
    if (token.value.trim()) credentials.sessionToken = token.value.trim();
    busy(submit, 'Signing in…', () => verifyAndKeep(app, credentials, next).catch((err) => {
      app.fail(err, 'Sign-in failed');
      secret.focus();
    }));
  });
  return form;
}

// Tries the key pair with a cheap signed call, then keeps it.
async function verifyAndKeep(app, credentials, next) {
  const kvs = new KvsClient({ endpoint: location.origin, region: app.config.region, credentials });
  await kvs.listChannels({ maxResults: 1 });
  clearBanners();
  saveCredentials(credentials);
  app.signIn(credentials, kvs);
  await app.navigate(next, { replace: true });
}
