// Where the signed-in key pair lives: this tab's sessionStorage, and
// nowhere else (never localStorage, cookies or the server). Closing the tab
// forgets it; a new console tab gets a copy from an open one (see
// shareWithTabs below).

const KEY = 'switchboard.credentials';

/** The stored credentials, or null. */
export function loadCredentials() {
  try {
    const value = JSON.parse(sessionStorage.getItem(KEY) || 'null');
    return value && value.accessKeyId && value.secretAccessKey ? value : null;
  } catch {
    return null;
  }
}

/** Stores {accessKeyId, secretAccessKey, sessionToken?, dev?}. */
export function saveCredentials(credentials) {
  sessionStorage.setItem(KEY, JSON.stringify(credentials));
}

export function clearCredentials() {
  sessionStorage.removeItem(KEY);
}

/** AKIA…MPLE: enough to recognise a key without showing it whole. */
export function maskKey(id) {
  return id.length > 8 ? `${id.slice(0, 4)}…${id.slice(-4)}` : id;
}

// Tabs of this console in the same browser hand the key pair to a new tab
// that asks for it (a link opened in a new tab starts with empty session
// storage), and sign out together. BroadcastChannel never leaves the
// origin or the browser.
const TABS = 'switchboard.tabs';
let tabs = null;

/**
 * Answers other tabs' requests with current() (the signed-in key pair or
 * null), and calls onSignOut when another tab signs out.
 */
export function shareWithTabs(current, onSignOut) {
  if (!('BroadcastChannel' in window) || tabs) return;
  tabs = new BroadcastChannel(TABS);
  tabs.addEventListener('message', (e) => {
    const msg = e.data || {};
    if (msg.type === 'ask' && current()) tabs.postMessage({ type: 'answer', credentials: current() });
    if (msg.type === 'signout' && current()) onSignOut();
  });
}

/** Asks the other tabs for a key pair; null when none answers in time. */
export function askOtherTabs(timeoutMs = 150) {
  if (!tabs) return Promise.resolve(null);
  return new Promise((resolve) => {
    const onAnswer = (e) => {
      if (e.data?.type !== 'answer' || !e.data.credentials?.accessKeyId) return;
      done(e.data.credentials);
    };
    const done = (value) => {
      clearTimeout(timer);
      tabs.removeEventListener('message', onAnswer);
      resolve(value);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    tabs.addEventListener('message', onAnswer);
    tabs.postMessage({ type: 'ask' });
  });
}

/** Tells the other tabs to forget the key pair too. */
export function announceSignOut() {
  if (tabs) tabs.postMessage({ type: 'signout' });
}
