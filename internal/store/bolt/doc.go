// Package bolt is the embedded, single-node storage backend of Switchboard:
// it implements store.Store on one bbolt file in the server's data
// directory. It owns that file's layout, its record encoding and its schema
// version; it knows nothing about channel rules (names, ARNs, versions),
// which belong to the caller, and it never starts goroutines of its own.
//
// # Durability and write batching
//
// Every acknowledged write has been committed and fsynced, so it survives a
// crash of the process. A channel write that finds no other channel write
// in flight commits at once; overlapping writes go through bbolt's Batch,
// which lets them share one transaction and therefore one fsync (Options
// tunes how long a batch waits to fill). Because a batched transaction
// may be run more than once, every write function here reads the current
// state afresh on each run and reports its outcome through variables that
// each run overwrites, so the caller sees the outcome of the run that
// committed. A business refusal (ErrExists, a mutate error, ...) is such an
// outcome, not a transaction error, so it never forces the other writes of
// the batch to be retried.
//
// # On-disk layout (schema version 1)
//
//	meta      (bucket)  "schema" -> "1"
//	accounts  (bucket)
//	  <account> (bucket, one per account that has channels)
//	    <channel name> -> JSON record {"v":1, "arn", "type", "status",
//	                      "createdAt", "messageTtl", "version", "tags"}
//	    bucket sequence = number of channels in the account
//	secrets   (bucket)  <name> -> raw secret bytes
//	deleted   (bucket, made by the first delete)
//	  <account> (bucket, while it holds a record)
//	    <channel name> -> CreatedAt (RFC 3339, UTC) of the last deleted
//	                      channel of that name, until the name is used again
//	                      or the record expires
//
// Keys are the raw bytes of the account and the channel name, so listing a
// page is a cursor seek followed by a short walk in name order, and accounts
// whose IDs share a prefix cannot see each other's channels. The channel
// count lives in the account bucket's sequence, which bbolt keeps in the
// bucket header: reading and updating it is O(1), unlike bucket statistics,
// which walk every page. An account bucket is removed with its last channel.
//
// The deleted bucket lets CreateChannel refuse a creation time that is not
// after that of a deleted channel of the same name (the caller's ARNs are
// built from it). Its records are written in the delete's transaction and
// removed when the name is created again, or, once older than
// store.DeletionRecordHorizon, by a bounded sweep that every create and
// delete runs in its own transaction (deleted.go). So it only holds names
// that were used, are now free, and were deleted recently. It is optional
// on read: files from before it existed open unchanged under schema 1, and
// a build that does not know it leaves it alone.
//
// The record's "v" field versions the value encoding; the meta "schema" key
// versions the bucket layout. Open refuses files with a newer schema than it
// knows, and decoding refuses records with an unknown "v".
package bolt
