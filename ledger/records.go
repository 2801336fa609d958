package ledger

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Generic small records: trust state, audit log, epoch keys, settings. A
// bucket is a namespace; keys within it iterate in byte order.

func checkRecord(bucket, key string) error {
	if bucket == "" || len(bucket) > maxBucket {
		return fmt.Errorf("%w: bucket name length %d (want 1..%d)", ErrInvalid, len(bucket), maxBucket)
	}
	if len(key) > maxRecordKey {
		return fmt.Errorf("%w: record key length %d (limit %d)", ErrInvalid, len(key), maxRecordKey)
	}
	return nil
}

// PutRecord stores val under (bucket, key), replacing any previous value.
// Like Append it is durable after Sync (or at once with SyncWrites).
func (s *Store) PutRecord(bucket, key string, val []byte) error {
	if err := checkRecord(bucket, key); err != nil {
		return err
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	v := append([]byte{}, val...)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(recordKey(bucket, key), v) }); err != nil {
		return fmt.Errorf("put record %s/%s: %w", bucket, key, err)
	}
	return nil
}

// DeleteRecord removes (bucket, key); deleting a missing record is not an
// error.
func (s *Store) DeleteRecord(bucket, key string) error {
	if err := checkRecord(bucket, key); err != nil {
		return err
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(recordKey(bucket, key)) }); err != nil {
		return fmt.Errorf("delete record %s/%s: %w", bucket, key, err)
	}
	return nil
}

// Record returns the value of (bucket, key), or ErrNotFound.
func (s *Store) Record(bucket, key string) ([]byte, error) {
	if err := checkRecord(bucket, key); err != nil {
		return nil, err
	}
	var val []byte
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(recordKey(bucket, key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("record %s/%s: %w", bucket, key, ErrNotFound)
		}
		if err != nil {
			return err
		}
		val, err = item.ValueCopy(nil)
		return err
	})
	return val, err
}

// Records calls fn for every record of bucket in key order. fn may keep val
// and may call other Store methods (it runs inside a read snapshot, so it
// does not see its own writes). An error from fn stops the walk and is
// returned.
func (s *Store) Records(bucket string, fn func(key string, val []byte) error) error {
	if err := checkRecord(bucket, ""); err != nil {
		return err
	}
	prefix := recordKey(bucket, "")
	return s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 16})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
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
}
