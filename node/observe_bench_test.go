package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ctimesh/ctimesh/envelope"
)

// BenchmarkEntryObjectIDs: the decision log reads the ids of every own
// entry's objects; this is its cost per entry of ~200 typical objects.
func BenchmarkEntryObjectIDs(b *testing.B) {
	b.ReportAllocs()
	var raws [][]byte
	desc := strings.Repeat("adversaries may use this technique to gain access. ", 20)
	for i := range 200 {
		raws = append(raws, []byte(fmt.Sprintf(`{"type":"attack-pattern","spec_version":"2.1","id":"attack-pattern--%08d-0000-4000-8000-000000000000",`+
			`"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","name":"T%d","description":%q,`+
			`"kill_chain_phases":[{"kill_chain_name":"mitre-attack","phase_name":"execution"}],"external_references":[{"source_name":"mitre-attack","external_id":"T%d","url":"https://attack.mitre.org"}]}`, i, i, desc, i)))
	}
	e := &envelope.Entry{Kind: envelope.KindObjects, Payload: envelope.EncodeList(raws)}
	b.SetBytes(int64(len(e.Payload)))
	for b.Loop() {
		if ids := entryObjectIDs(e); len(ids) != 200 {
			b.Fatal(len(ids))
		}
	}
}

func TestTopLevelID(t *testing.T) {
	for raw, want := range map[string]string{
		`{"type":"x","id":"indicator--1"}`:                          "indicator--1",
		` { "a" : {"id":"nested"} , "b":[1,{"id":2}], "id" : "y" }`: "y",
		`{"a":"q\"id\":","id":"z\u0041"}`:                           "zA",
		`{"a":1,"id":"k"}`:                                          "k",
		`{"a":true}`:                                                "",
		`{"id":5}`:                                                  "",
		`[{"id":"x"}]`:                                              "",
		`{"a":"unterminated`:                                        "",
		``:                                                          "",
	} {
		if got := topLevelID([]byte(raw)); got != want {
			t.Errorf("%s: %q, want %q", raw, got, want)
		}
	}
}

// FuzzTopLevelID: never panics, and agrees with encoding/json on valid
// objects with one id member.
func FuzzTopLevelID(f *testing.F) {
	for _, s := range []string{`{"type":"x","id":"a--b"}`, `{"a":{"id":"n"},"id":"y"}`, `{"id":1}`, `{"a":"\\"}`, `[`, `{"a":[{}],"id":"q"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := topLevelID(raw)
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil || bytes.Count(raw, []byte(`"id"`)) != 1 {
			return
		}
		var want string
		if v, ok := m["id"]; ok {
			json.Unmarshal(v, &want)
		}
		if got != want {
			t.Fatalf("%q: got %q, encoding/json %q", raw, got, want)
		}
	})
}
