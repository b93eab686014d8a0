package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"sync"
)

// keyCacheSize bounds the number of derived signing keys kept in memory. A
// key is valid for one (secret, day, region, service), so a busy server needs
// about one entry per active access key and region per day.
const keyCacheSize = 1024

// hmacSHA256 returns HMAC-SHA256(key, data).
func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// deriveKey runs the SigV4 key chain: "AWS4"+secret → date → region →
// service → "aws4_request".
func deriveKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, scopeTerminator)
}

// keyID identifies one derived signing key.
type keyID struct{ secret, date, region, service string }

// keyCache is a small, bounded, concurrency-safe map of derived keys. When
// full it drops an arbitrary entry; derived keys are cheap to recompute, so
// there is no need for LRU bookkeeping on the hot path.
type keyCache struct {
	mu   sync.Mutex
	max  int
	keys map[keyID][]byte
}

func newKeyCache(max int) *keyCache {
	return &keyCache{max: max, keys: make(map[keyID][]byte, max)}
}

// get returns the signing key for id, deriving and remembering it if needed.
// The returned slice must not be modified.
func (c *keyCache) get(id keyID) []byte {
	c.mu.Lock()
	k, ok := c.keys[id]
	c.mu.Unlock()
	if ok {
		return k
	}
	k = deriveKey(id.secret, id.date, id.region, id.service)
	c.mu.Lock()
	if len(c.keys) >= c.max {
		for old := range c.keys {
			delete(c.keys, old)
			break
		}
	}
	c.keys[id] = k
	c.mu.Unlock()
	return k
}

// signingKeys is shared by signing and verification in this process.
var signingKeys = newKeyCache(keyCacheSize)

// signature returns the hex signature of a string to sign.
func signature(secret, date, region, service, toSign string) string {
	key := signingKeys.get(keyID{secret, date, region, service})
	return hex.EncodeToString(hmacSHA256(key, toSign))
}
