// Package devtls owns the zero-configuration TLS material of
// "switchboard serve". When the operator supplies no certificate, Ensure
// creates a local development certificate authority (CA) and a server
// certificate signed by it under DATA_DIR/tls, and reuses both on later
// starts, reissuing only the server certificate when it nears expiry or lacks
// a host name. The package also owns Reloader, which serves a certificate
// pair from files (the generated one or the operator's --tls-cert/--tls-key)
// and picks up replaced files without a restart.
//
// The generated CA is for development and private test networks only. Its
// private key lies unencrypted in DATA_DIR/tls/ca-key.pem (mode 0600):
// whoever can read it can mint certificates that every client trusting the
// CA accepts. Production deployments give the server a real certificate.
//
// Clients check the server against DATA_DIR/tls/ca.pem:
//
//	AWS CLI and SDKs   AWS_CA_BUNDLE=DATA_DIR/tls/ca.pem
//	curl               curl --cacert DATA_DIR/tls/ca.pem ...
//	Node.js            NODE_EXTRA_CA_CERTS=DATA_DIR/tls/ca.pem
//	KVS C SDK          the CA certificate path handed to the SDK (pCertPath)
//	Go                 (*Bundle).CertPool as tls.Config.RootCAs
//	browsers           import ca.pem as a trusted certificate authority, in
//	                   the browser's certificate settings or the system store
//
// Bundle.TrustInstructions renders that list for a concrete directory.
//
// The package must not open sockets or decide TLS policy (versions, ALPN
// protocols, client authentication): callers build the tls.Config. It writes
// only inside the directory given to Ensure.
package devtls
