package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func writeTemp(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.json")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadObjects(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"type":"bundle","id":"bundle--1","objects":[{"id":"a"},{"id":"b"}]}`))
	zw.Close()
	for name, tc := range map[string]struct {
		in   []byte
		want int
	}{
		"bundle":       {[]byte(`{"type":"bundle","id":"bundle--1","objects":[{"id":"a"},{"id":"b"},{"id":"c"}]}`), 3},
		"objects last": {[]byte(`{"id":"bundle--1","objects":[{"id":"a"}],"type":"bundle"}`), 1},
		"array":        {[]byte(`[{"id":"a"},{"id":"b"}]`), 2},
		"one object":   {[]byte(`{"type":"indicator","id":"indicator--1","name":"x"}`), 1},
		"gzip":         {gz.Bytes(), 2},
	} {
		got, err := readObjects(writeTemp(t, tc.in))
		if err != nil || len(got) != tc.want {
			t.Errorf("%s: %d objects, %v", name, len(got), err)
		}
		for _, o := range got {
			if !json.Valid(o) {
				t.Errorf("%s: invalid object %s", name, o)
			}
		}
	}
	for _, bad := range []string{``, `5`, `{"objects":5}`, `[1,`, `{"a":`} {
		if _, err := readObjects(writeTemp(t, []byte(bad))); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzReadObjects: any file is read or refused, never a panic, and every
// object returned is valid JSON.
func FuzzReadObjects(f *testing.F) {
	for _, s := range []string{`{"type":"bundle","objects":[{"id":"a"}]}`, `[{}]`, `{"id":"x"}`, `{"objects":[`, `"s"`, "\x1f\x8b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := readObjects(writeTemp(t, data))
		if err != nil {
			return
		}
		for _, o := range objs {
			if !json.Valid(o) {
				t.Fatalf("%q: object %q is not JSON", data, o)
			}
		}
	})
}
