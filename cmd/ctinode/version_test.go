package main

import (
	"bytes"
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionOf(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Deps: []*debug.Module{
			{Path: "github.com/libp2p/go-libp2p", Version: "v0.51.0"},
			{Path: "github.com/libp2p/go-libp2p-pubsub", Version: "v0.19.0"},
			{Path: "github.com/dgraph-io/badger/v4", Version: "v4.9.6"},
		},
	}
	v := versionOf(bi, "abc123")
	if v.Commit != "abc123" || v.Go != "go1.26.8" {
		t.Fatalf("%+v", v)
	}
	want := map[string]string{
		"github.com/libp2p/go-libp2p":        "v0.51.0",
		"github.com/libp2p/go-libp2p-pubsub": "v0.19.0",
		"github.com/dgraph-io/badger/v4":     "v4.9.6",
	}
	for _, d := range v.Deps {
		if w, ok := want[d.Path]; ok && d.Version != w {
			t.Errorf("%s %s, want %s", d.Path, d.Version, w)
		}
	}
	// A VCS stamp wins over the linker's commit.
	bi.Settings = []debug.BuildSetting{{Key: "vcs.revision", Value: "def456"}, {Key: "vcs.modified", Value: "true"}}
	if v := versionOf(bi, "abc123"); v.Commit != "def456" || !v.Modified {
		t.Fatalf("%+v", v)
	}
	if v := versionOf(nil, ""); v.Commit != "unknown" || v.Go == "" {
		t.Fatalf("%+v", v)
	}
}

func TestVersionCommand(t *testing.T) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"version", "--json"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	var v version
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if v.Version == "" || !strings.HasPrefix(v.Go, "go") || len(v.Deps) < 3 {
		t.Fatalf("%s", out.Bytes())
	}
}
