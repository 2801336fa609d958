package main

import (
	"fmt"
	"time"

	"github.com/ctimesh/ctimesh/stix"
)

// indicators generates valid, distinct STIX 2.1 indicators. Ids embed a
// per-generator prefix and a counter, so two generators (two runs into one
// directory) never collide.
type indicators struct {
	prefix uint32
	next   uint64
	ts     string
}

func newIndicators(prefix uint32) *indicators {
	return &indicators{prefix: prefix, ts: time.Now().UTC().Format("2006-01-02T15:04:05.000Z")}
}

// object appends the next indicator, marked with level unless LevelNone.
func (g *indicators) object(dst []byte, level stix.Level) []byte {
	n := g.next
	g.next++
	marking := ""
	if level != stix.LevelNone {
		marking = `,"object_marking_refs":["` + stix.MarkingFor(level) + `"]`
	}
	return fmt.Appendf(dst, `{"type":"indicator","spec_version":"2.1",`+
		`"id":"indicator--%08x-%04x-4%03x-8%03x-%012x","created":"%s","modified":"%s",`+
		`"name":"ctibench indicator %d","indicator_types":["malicious-activity"],`+
		`"pattern":"[ipv4-addr:value = '10.%d.%d.%d']","pattern_type":"stix","valid_from":"%s"%s}`,
		g.prefix, (n>>48)&0xffff, (n>>36)&0xfff, (n>>24)&0xfff, n&0xffffffffffff, g.ts, g.ts,
		n, (n>>16)&0xff, (n>>8)&0xff, n&0xff, g.ts, marking)
}

// bundle returns a STIX bundle of count new indicators, unmarked (the
// publisher's requested level applies).
func (g *indicators) bundle(count int) []byte {
	b := make([]byte, 0, count*420+128)
	b = fmt.Appendf(b, `{"type":"bundle","id":"bundle--%08x-0000-4000-8000-%012x","objects":[`, g.prefix, g.next)
	for i := range count {
		if i > 0 {
			b = append(b, ',')
		}
		b = g.object(b, stix.LevelNone)
	}
	return append(b, "]}"...)
}
