package ledger

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Append-only logs over generic records (the audit log): batched writes,
// iteration from a key in either direction, and the last key.

// ErrStop, returned by a RecordsFrom callback, ends the walk early; the walk
// then returns nil.
var ErrStop = errors.New("stop iteration")

// PutRecords stores vals[i] under (bucket, keys[i]) for every i, replacing
// previous values, in one Badger transaction. A batch too large for one
// transaction is split into several, committed in order, so after a crash
// a prefix of the batch is present. Keys and values are validated before
// anything is written. The slices may be reused once PutRecords returns.
//
// Like Append and PutRecord it is durable after Sync (or at once with
// SyncWrites): callers that need the batch on disk call Sync.
//
// keys and vals are parallel slices rather than a slice of pairs so that a
// consumer can declare the method in its own interface without importing
// this package.
func (s *Store) PutRecords(bucket string, keys []string, vals [][]byte) error {
	if len(keys) != len(vals) {
		return fmt.Errorf("%w: %d record keys for %d values", ErrInvalid, len(keys), len(vals))
	}
	for _, k := range keys {
		if err := checkRecord(bucket, k); err != nil {
			return err
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()

	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	txns := 1
	for i, k := range keys {
		key := recordKey(bucket, k)
		err := txn.Set(key, vals[i])
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return fmt.Errorf("put records %s (part %d): %w", bucket, txns, err)
			}
			txn = s.db.NewTransaction(true)
			txns++
			err = txn.Set(key, vals[i])
		}
		if err != nil {
			return fmt.Errorf("put record %s/%x: %w", bucket, k, err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("put records %s (part %d): %w", bucket, txns, err)
	}
	return nil
}

// RecordsFrom calls fn for the records of bucket in key order starting at
// start (inclusive), or in reverse key order starting at the greatest key
// not above start. An empty start is the first key, or in reverse the last.
// fn may keep val. The walk stops when fn returns an error: ErrStop (or an
// error wrapping it) ends it with nil, any other error is returned. Like
// Records it runs in one read snapshot.
func (s *Store) RecordsFrom(bucket, start string, reverse bool, fn func(key string, val []byte) error) error {
	if err := checkRecord(bucket, start); err != nil {
		return err
	}
	prefix := recordKey(bucket, "")
	seek := recordKey(bucket, start)
	if reverse && start == "" {
		// Reverse Seek lands on the greatest key at or below its argument,
		// so seek past every key the bucket can hold. A shorter run of 0xff
		// would miss keys that begin with a longer one.
		seek = append(seek, bytes.Repeat([]byte{0xff}, maxRecordKey+1)...)
	}
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: reverse, PrefetchValues: true, PrefetchSize: 16})
		defer it.Close()
		for it.Seek(seek); it.Valid(); it.Next() {
			item := it.Item()
			val, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := fn(string(item.Key()[len(prefix):]), val); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// LastRecord returns the record of bucket with the greatest key, or
// ErrNotFound when the bucket is empty.
func (s *Store) LastRecord(bucket string) (key string, val []byte, err error) {
	found := false
	err = s.RecordsFrom(bucket, "", true, func(k string, v []byte) error {
		key, val, found = k, v, true
		return ErrStop
	})
	if err != nil {
		return "", nil, err
	}
	if !found {
		return "", nil, fmt.Errorf("last record of %s: %w", bucket, ErrNotFound)
	}
	return key, val, nil
}
