package main

import (
	"runtime"
	"runtime/debug"

	"github.com/ctimesh/ctimesh/node"
)

// commit is the source revision when the build has no VCS stamp (built
// with -buildvcs=false, as deployments/Dockerfile does): set with
// -ldflags "-X main.commit=<sha>".
var commit string

// versionDeps are the libraries whose versions `ctinode version` reports:
// the ones a bug report needs.
var versionDeps = []string{
	"github.com/libp2p/go-libp2p",
	"github.com/libp2p/go-libp2p-pubsub",
	"github.com/dgraph-io/badger/v4",
	"github.com/multiformats/go-multiaddr",
}

type depVersion struct {
	Path    string `json:"path"`
	Version string `json:"version"`
}

type version struct {
	Version  string       `json:"version"`
	Commit   string       `json:"commit"`
	Modified bool         `json:"modified,omitempty"`
	Go       string       `json:"go"`
	Deps     []depVersion `json:"deps"`
}

// versionInfo reads the build info the Go toolchain embeds, so the
// reported commit and library versions cannot drift from the binary.
func versionInfo() version {
	bi, _ := debug.ReadBuildInfo() // nil when the binary has none
	return versionOf(bi, commit)
}

// versionOf is versionInfo over given build info (nil: none) and linker
// commit.
func versionOf(bi *debug.BuildInfo, linked string) version {
	v := version{Version: node.Version, Commit: "unknown", Go: runtime.Version()}
	if linked != "" {
		v.Commit = linked
	}
	if bi == nil {
		return v
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	for _, path := range versionDeps {
		dv := depVersion{Path: path, Version: "unknown"}
		for _, d := range bi.Deps {
			if d.Path == path {
				dv.Version = d.Version
				if d.Replace != nil {
					dv.Version = d.Replace.Version + " (replaced)"
				}
			}
		}
		v.Deps = append(v.Deps, dv)
	}
	return v
}
