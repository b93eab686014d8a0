// Turns failures into sentences a person can act on. Authentication
// failures say so and offer to sign in again; a request that got no answer
// at all points at the server or its certificate.

import { ApiError, NetworkError } from './kvs.js';

const AUTH_ERRORS = new Set([
  'UnrecognizedClientException', 'InvalidSignatureException', 'IncompleteSignatureException',
  'MissingAuthenticationTokenException', 'ExpiredTokenException', 'NotAuthorizedException',
  'AccessDeniedException', 'SessionExpiredException',
]);

/** Whether err means the stored credentials no longer work. */
export function isAuthError(err) {
  return err instanceof ApiError && AUTH_ERRORS.has(err.name);
}

/** Whether err says the channel does not exist (any more). */
export function isNotFound(err) {
  return err instanceof ApiError && err.name === 'ResourceNotFoundException';
}

/**
 * A banner for err: {title, text}. `doing` says what was attempted, e.g.
 * "Could not create the channel".
 */
export function describeError(err, doing = 'The request failed') {
  if (err instanceof NetworkError) {
    return {
      title: `${doing}: no answer from ${new URL(err.url).host}`,
      text: 'The server may be stopped, or this browser does not trust its TLS certificate. ' +
        'A development server signs with its own CA: import DATA_DIR/tls/ca.pem as a trusted authority ' +
        '(see "Trusting the development CA" in the README), then reload.',
    };
  }
  if (!(err instanceof ApiError)) return { title: doing, text: err && err.message ? err.message : String(err) };
  const text = authText(err) || err.message;
  const ref = err.requestId ? ` (request id ${err.requestId})` : '';
  return { title: `${doing}: ${err.name}`, text: text + ref };
}

function authText(err) {
  switch (err.name) {
    case 'UnrecognizedClientException':
      return 'This server does not know that access key ID. The key may have been removed or replaced; sign in with a current key.';
    case 'InvalidSignatureException':
      if (/Signature expired|not yet current/.test(err.message)) {
        return `This computer's clock is too far from the server's. ${err.message}`;
      }
      return 'The secret access key does not match the access key ID: the server computed a different signature. Check the secret and sign in again.';
    case 'ExpiredTokenException':
    case 'SessionExpiredException':
      return 'Your temporary credentials have expired. Sign in again with fresh ones.';
    case 'MissingAuthenticationTokenException':
      return 'The request was not signed. Sign in again.';
    case 'AccessDeniedException':
    case 'NotAuthorizedException':
      return `These credentials may not do this. ${err.message}`;
    case 'ResourceNotFoundException':
      return 'The channel does not exist. It may have been deleted.';
    case 'VersionMismatchException':
      return 'The channel was changed by someone else in the meantime. The page now shows its latest state; make your change again.';
    default:
      return '';
  }
}
