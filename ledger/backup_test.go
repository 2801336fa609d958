package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

func TestBackupRestore(t *testing.T) {
	src := openDir(t, filepath.Join(t.TempDir(), "src"))
	defer src.Close()
	w := newFeed(t, 1, envelope.Feed{Level: stix.Green})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 50 {
		o := obj(objID(i), base.Add(time.Duration(i)*time.Minute))
		mustAppend(t, src, w.objects(o), o)
		ids = append(ids, o.ID)
	}
	mustAppend(t, src, w.retract(ids[0]))
	noErr(t, src.PutRecord("trust", "x", []byte("kept")))
	want, err := src.Stats()
	noErr(t, err)

	var buf bytes.Buffer
	info, err := src.Backup(&buf)
	noErr(t, err)
	if info.Entries != want.Entries || info.Schema != SchemaVersion {
		t.Fatalf("backup info %+v, stats %+v", info, want)
	}
	if h, err := ReadBackupInfo(bytes.NewReader(buf.Bytes())); err != nil || h.Entries != info.Entries {
		t.Fatalf("ReadBackupInfo: %+v %v", h, err)
	}

	dir := filepath.Join(t.TempDir(), "restored")
	opts := DefaultOptions(dir)
	_, got, err := Restore(opts, bytes.NewReader(buf.Bytes()))
	noErr(t, err)
	if got.Entries != want.Entries || got.Objects != want.Objects {
		t.Fatalf("restored stats %+v, want %+v", got, want)
	}
	dst := openDir(t, dir)
	defer dst.Close()
	h1, _ := src.Head(w.origin, w.feed)
	h2, err := dst.Head(w.origin, w.feed)
	noErr(t, err)
	if h1 != h2 {
		t.Fatalf("head %+v after restore, want %+v", h2, h1)
	}
	if v, err := dst.Record("trust", "x"); err != nil || string(v) != "kept" {
		t.Fatalf("record after restore: %q %v", v, err)
	}
	if vs, err := dst.Versions(ids[0]); err != nil || len(vs) != 1 || !vs[0].Retracted {
		t.Fatalf("retraction lost in restore: %+v %v", vs, err)
	}
	// The restored store keeps appending where the original left off.
	o := obj(objID(99), base.Add(time.Hour))
	if r := mustAppend(t, dst, w.objects(o), o); r.Stored != 1 {
		t.Fatalf("append after restore: %+v", r)
	}

	dst.Close()
	// Refusals: a non-empty directory, a file that is not a backup.
	if _, _, err := Restore(DefaultOptions(dir), bytes.NewReader(buf.Bytes())); !errors.Is(err, ErrInvalid) {
		t.Fatalf("restore into a used directory: %v", err)
	}
	for _, junk := range []string{"", "hello", backupMagic + "{}\n", backupMagic + `{"format":"badger-v4","schema":9}` + "\n"} {
		_, _, err := Restore(DefaultOptions(filepath.Join(t.TempDir(), "x")), strings.NewReader(junk))
		if err == nil {
			t.Fatalf("restore of %q succeeded", junk)
		}
	}
}

func objID(i int) string { return fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i) }
