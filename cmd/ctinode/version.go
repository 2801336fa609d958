package main

import (
	"runtime/debug"
	"strings"

	"github.com/ctimesh/ctimesh/node"
)

type depVersion struct {
	Path    string `json:"path"`
	Version string `json:"version"`
}

type version struct {
	Version string       `json:"version"`
	Commit  string       `json:"commit"`
	Go      string       `json:"go"`
	Deps    []depVersion `json:"deps"`
}

// versionInfo reads the build info the Go toolchain embeds, so the
// reported commit and library versions cannot drift from the binary.
func versionInfo() version {
	v := version{Version: node.Version, Commit: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Go = bi.GoVersion
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			v.Commit = s.Value
		}
	}
	for _, d := range bi.Deps {
		switch {
		case strings.HasPrefix(d.Path, "github.com/libp2p/go-libp2p"),
			strings.HasPrefix(d.Path, "github.com/dgraph-io/badger"),
			strings.HasPrefix(d.Path, "github.com/multiformats/go-multiaddr"):
			v.Deps = append(v.Deps, depVersion{d.Path, d.Version})
		}
	}
	return v
}
