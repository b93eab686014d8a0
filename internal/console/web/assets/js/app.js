// The console's entry point: reads /console/config.json, keeps the signed-in
// client, and routes between the pages with the History API. The server
// answers every page address with the same index.html; this file decides
// what it shows.

import { KvsClient } from './kvs.js';
import { loadCredentials, saveCredentials, clearCredentials, maskKey, shareWithTabs, askOtherTabs, announceSignOut } from './session.js';
import { describeError, isAuthError } from './errors.js';
import { h, replace, showBanner, clearBanners } from './ui.js';
import signinView from './views/signin.js';
import channelsView from './views/channels.js';
import channelView from './views/channel.js';
import liveView from './views/live.js';
import notFoundView from './views/notfound.js';

const NAME = '([A-Za-z0-9_.-]{1,256})';

// The page routes; the server's list in handler.go matches this one.
const routes = [
  { re: /^\/console\/signin$/, view: signinView, title: 'Sign in', open: true },
  { re: /^\/console\/(?:channels)?$/, view: channelsView, title: 'Channels' },
  { re: new RegExp(`^/console/channels/${NAME}$`), view: channelView, title: 'Channel' },
  { re: new RegExp(`^/console/channels/${NAME}/master$`), view: liveView, title: 'Master', role: 'MASTER' },
  { re: new RegExp(`^/console/channels/${NAME}/viewer$`), view: liveView, title: 'Viewer', role: 'VIEWER' },
];

const app = {
  config: { region: 'us-east-1', devLogin: false },
  credentials: null,
  kvs: null,
  cleanup: null,
  renderCount: 0,

  /** Goes to a console address; replace avoids a history entry. */
  navigate(path, { replace: swap = false } = {}) {
    history[swap ? 'replaceState' : 'pushState'](null, '', path);
    return render();
  },

  /** Starts using a key pair (after sign-in); kvs may be a client already made for it. */
  signIn(credentials, kvs) {
    app.credentials = credentials;
    app.kvs = kvs || new KvsClient({ endpoint: location.origin, region: app.config.region, credentials });
    updateAccount();
  },

  /** Forgets the key pair, here and (unless told otherwise) in the other tabs. */
  signOut({ announce = true } = {}) {
    clearCredentials();
    app.credentials = null;
    app.kvs = null;
    updateAccount();
    if (announce) announceSignOut();
    return app.navigate('/console/signin');
  },

  /**
   * Reports a failure in a banner. Authentication failures offer to sign
   * in again, and come back here afterwards.
   */
  fail(err, doing) {
    const { title, text } = describeError(err, doing);
    const actions = isAuthError(err) && location.pathname !== '/console/signin'
      ? [{ label: 'Sign in again', onClick: () => { clearCredentials(); app.credentials = null; updateAccount(); app.navigate(`/console/signin?next=${encodeURIComponent(location.pathname)}`); } }]
      : [];
    showBanner({ id: `fail-${doing}`, kind: 'error', title, text, actions });
  },
};

function updateAccount() {
  const box = document.getElementById('account');
  box.hidden = !app.credentials;
  if (app.credentials) document.getElementById('account-key').textContent = maskKey(app.credentials.accessKeyId);
}

function match(pathname) {
  for (const route of routes) {
    const m = pathname.match(route.re);
    if (m) return { route, params: m.slice(1).map(decodeURIComponent) };
  }
  return null;
}

// Shows the page for the current address. Each view returns a cleanup
// function, run before the next page replaces it.
async function render() {
  const count = ++app.renderCount;
  if (app.cleanup) {
    try { app.cleanup(); } catch { /* a failed cleanup must not block navigation */ }
    app.cleanup = null;
  }
  clearBanners();
  const found = match(location.pathname);
  if (found && !found.route.open && !app.credentials) {
    const next = location.pathname + location.search;
    return app.navigate(`/console/signin?next=${encodeURIComponent(next)}`, { replace: true });
  }
  const main = replace(document.getElementById('main'));
  const view = found ? found.route.view : notFoundView;
  document.title = `${found ? found.route.title : 'Not found'} · Switchboard`;
  markNav(found);
  const cleanup = await view({ app, main, params: found ? found.params : [], route: found && found.route, query: new URLSearchParams(location.search) });
  if (count !== app.renderCount) {
    if (typeof cleanup === 'function') cleanup(); // another page was asked for meanwhile
    return undefined;
  }
  app.cleanup = typeof cleanup === 'function' ? cleanup : null;
  const heading = main.querySelector('h1');
  if (heading && document.activeElement === document.body) heading.focus({ preventScroll: true });
  return undefined;
}

function markNav(found) {
  for (const a of document.querySelectorAll('.topnav a')) {
    const current = found && found.route.view !== signinView && a.getAttribute('href') === '/console/channels';
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// Same-origin links inside the console navigate without reloading.
function interceptLinks() {
  document.addEventListener('click', (e) => {
    const a = e.target.closest('a[href]');
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith('/console/') || url.pathname.startsWith('/console/assets/')) return;
    e.preventDefault();
    app.navigate(url.pathname + url.search);
  });
  window.addEventListener('popstate', () => render());
}

async function loadConfig() {
  try {
    const response = await fetch('/console/config.json', { cache: 'no-store' });
    if (response.ok) Object.assign(app.config, await response.json());
  } catch {
    showBanner({ kind: 'error', title: 'The server did not answer', text: 'Reload the page once the server is running again.' });
  }
}

async function boot() {
  document.getElementById('signout').addEventListener('click', () => app.signOut());
  interceptLinks();
  await loadConfig();
  shareWithTabs(() => app.credentials, () => app.signOut({ announce: false }));
  let saved = loadCredentials();
  if (!saved) {
    saved = await askOtherTabs();
    if (saved) saveCredentials(saved);
  }
  if (saved) app.signIn(saved);
  if (location.pathname === '/console/' || location.pathname === '/console') {
    history.replaceState(null, '', app.credentials ? '/console/channels' : '/console/signin');
  }
  await render();
}

boot().catch((err) => {
  replace(document.getElementById('main'), h('p', { class: 'empty', text: `The console could not start: ${err.message}` }));
});
