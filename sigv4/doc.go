// Package sigv4 owns AWS Signature Version 4 for Switchboard: signing
// header-authenticated requests, presigning URLs (the KVS WebSocket connect
// URL), and verifying both kinds on the server side (spec section 7).
//
// Verification follows what the real clients send rather than an idealised
// signer: it uses exactly the headers a request names in SignedHeaders with
// their received values, takes host from the request's Host as received, does
// not require X-Amz-Security-Token to be signed (the KVS C SDK adds the
// header after signing; some signers append the parameter to a presigned
// URL after signing), and never depends on the order of query parameters. Real signers clean the whitespace
// inside header values in three different ways (see canonicalForms); a
// request is accepted when its signature matches any of them, and the extra
// forms are computed only for values where they differ. An Authorization
// header over 8 KiB, or a query over 32 KiB or 256 parameters, is refused
// before it is split, with the limit in the message. Every
// verification failure is an *Error carrying the AWS error name the server
// answers with; the time-check messages contain the phrases the KVS C SDK
// searches for ("Signature expired", "Signature not yet current").
//
// The package only computes and compares signatures. It does not decide who
// may do what, does not validate session tokens (it reports them in Result),
// does not read request bodies and performs no I/O except through the
// caller's SecretLookup. It depends on the standard library only, so SDK
// users can import it without pulling in the server.
package sigv4
