package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// Upgrade tests. Schema 1 is the only real schema, so a "newer binary" is
// played by open with a higher target and test steps; the steps rewrite
// generic records (trust state, settings) the way a real step rewrites keys.

// storedSchema reads the schema key of the closed store in dir.
func storedSchema(t *testing.T, dir string) uint32 {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v uint32
	err = db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keySchema)
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error { v = binary.BigEndian.Uint32(b); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// schema1Store writes a store the way the current (schema 1) binary does:
// one entry with an object and a generic record, then closes it.
func schema1Store(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s := openDir(t, dir)
	w := newFeed(t, 1, green)
	mustAppend(t, s, w.objects(obj("indicator--a", t0)), obj("indicator--a", t0))
	noErr(t, s.PutRecord("settings", "colour", []byte("blue")))
	noErr(t, s.Close())
	if v := storedSchema(t, dir); v != 1 {
		t.Fatalf("new store has schema %d", v)
	}
	return dir
}

// upper rewrites every value of a record bucket in upper case.
func upper(bucket string) migrateFunc {
	return func(txn *badger.Txn) error {
		prefix := recordKey(bucket, "")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
		var keys, vals [][]byte
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				it.Close()
				return err
			}
			keys = append(keys, it.Item().KeyCopy(nil))
			vals = append(vals, []byte(strings.ToUpper(string(v))))
		}
		it.Close()
		for i := range keys {
			if err := txn.Set(keys[i], vals[i]); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestOpenSchema1Store(t *testing.T) {
	dir := schema1Store(t)
	s := openDir(t, dir)
	defer s.Close()
	if recs := must(s.Objects(Query{}))(t).Records; len(recs) != 1 || recs[0].ID != "indicator--a" {
		t.Fatalf("records %+v", recs)
	}
	if v := must(s.Record("settings", "colour"))(t); string(v) != "blue" {
		t.Fatalf("record %q", v)
	}
}

func TestMigrationStepsRunInOrder(t *testing.T) {
	tests := []struct {
		name   string
		target uint32
		want   []uint32 // steps that must run, in order
		colour string
	}{
		{"to 2", 2, []uint32{1}, "BLUE"},
		{"to 3", 3, []uint32{1, 2}, "BLUE!"},
		{"to 4", 4, []uint32{1, 2, 3}, "BLUE!"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := schema1Store(t)
			var ran []uint32
			step := func(v uint32, f migrateFunc) migrateFunc {
				return func(txn *badger.Txn) error {
					// Each step sees the store at its own starting schema:
					// the schema key moves only once every step succeeded.
					if got := len(ran); got != int(v)-1 {
						return fmt.Errorf("step %d ran after %d steps", v, got)
					}
					ran = append(ran, v)
					if f == nil {
						return nil
					}
					return f(txn)
				}
			}
			steps := map[uint32]migrateFunc{
				1: step(1, upper("settings")),
				2: step(2, func(txn *badger.Txn) error {
					// Sees step 1's writes: all steps share one transaction.
					item, err := txn.Get(recordKey("settings", "colour"))
					if err != nil {
						return err
					}
					v, err := item.ValueCopy(nil)
					if err != nil {
						return err
					}
					return txn.Set(recordKey("settings", "colour"), append(v, '!'))
				}),
				3: step(3, nil),
			}
			s, err := open(DefaultOptions(dir), tc.target, steps)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ran) != fmt.Sprint(tc.want) {
				t.Fatalf("steps ran %v, want %v", ran, tc.want)
			}
			if v := must(s.Record("settings", "colour"))(t); string(v) != tc.colour {
				t.Fatalf("record %q, want %q", v, tc.colour)
			}
			if recs := must(s.Objects(Query{}))(t).Records; len(recs) != 1 {
				t.Fatalf("%d records after migration", len(recs))
			}
			noErr(t, s.Close())
			if v := storedSchema(t, dir); v != tc.target {
				t.Fatalf("schema %d after migration, want %d", v, tc.target)
			}

			// Reopening by the same binary runs nothing.
			ran = nil
			s, err = open(DefaultOptions(dir), tc.target, steps)
			if err != nil {
				t.Fatal(err)
			}
			noErr(t, s.Close())
			if len(ran) != 0 {
				t.Fatalf("reopen ran steps %v", ran)
			}

			// The schema 1 binary refuses the upgraded store.
			_, err = Open(DefaultOptions(dir))
			want := fmt.Sprintf("store has schema %d, this program reads up to 1", tc.target)
			if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "newer ctinode") {
				t.Fatalf("old binary: err %v, want ErrNewerSchema saying %q", err, want)
			}
		})
	}
}

// TestOlderBinaryRefusesNewerStore: a store created by a schema 2 binary
// is refused by this one with both versions named, and left untouched.
func TestOlderBinaryRefusesNewerStore(t *testing.T) {
	dir := t.TempDir()
	s, err := open(DefaultOptions(dir), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	noErr(t, s.PutRecord("settings", "colour", []byte("green")))
	noErr(t, s.Close())

	_, err = Open(DefaultOptions(dir))
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("err %v, want ErrNewerSchema", err)
	}
	msg := err.Error()
	for _, want := range []string{"schema 2", "up to 1", "newer ctinode"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("message %q does not say %q", msg, want)
		}
	}
	if v := storedSchema(t, dir); v != 2 {
		t.Fatalf("refusal changed the schema to %d", v)
	}
	// The schema 2 binary still opens it, data intact.
	s, err = open(DefaultOptions(dir), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := must(s.Record("settings", "colour"))(t); string(v) != "green" {
		t.Fatalf("record %q", v)
	}
}

// TestFailedMigrationLeavesStore: a failing step rolls every step back;
// the old binary still opens the store as it was.
func TestFailedMigrationLeavesStore(t *testing.T) {
	dir := schema1Store(t)
	boom := errors.New("boom")
	steps := map[uint32]migrateFunc{
		1: upper("settings"),
		2: func(*badger.Txn) error { return boom },
	}
	_, err := open(DefaultOptions(dir), 3, steps)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "migrate ledger schema 2 to 3") {
		t.Fatalf("err %v, want the step's error naming 2 to 3", err)
	}
	if v := storedSchema(t, dir); v != 1 {
		t.Fatalf("schema %d after a failed migration", v)
	}
	s := openDir(t, dir)
	defer s.Close()
	if v := must(s.Record("settings", "colour"))(t); string(v) != "blue" {
		t.Fatalf("step 1 not rolled back: record %q", v)
	}
}

// TestMissingMigrationRefused: a binary whose table has a hole cannot
// upgrade and says which step is missing.
func TestMissingMigrationRefused(t *testing.T) {
	dir := schema1Store(t)
	_, err := open(DefaultOptions(dir), 3, map[uint32]migrateFunc{1: upper("settings")})
	if err == nil || !strings.Contains(err.Error(), "no migration from schema 2") {
		t.Fatalf("err %v, want a missing step 2", err)
	}
	if v := storedSchema(t, dir); v != 1 {
		t.Fatalf("schema %d after a refused migration", v)
	}
}

// TestMigrationTableComplete: the real table has a step from every schema
// below the current one, so any store this program ever wrote can climb.
func TestMigrationTableComplete(t *testing.T) {
	steps := migrations()
	for v := uint32(1); v < SchemaVersion; v++ {
		if steps[v] == nil {
			t.Errorf("no migration from schema %d to %d", v, v+1)
		}
	}
	for v := range steps {
		if v < 1 || v >= SchemaVersion {
			t.Errorf("migration from schema %d, outside 1..%d", v, SchemaVersion-1)
		}
	}
}
