package stix

import (
	"encoding/json"
	"time"
)

// Object is one STIX 2.1 object: the fields ctimesh needs, decoded once, and
// the raw JSON exactly as published (which is what is signed, stored and
// served; it is never re-serialised).
type Object struct {
	Type        string
	ID          string
	SpecVersion string
	// Created and Modified are zero for objects that have none (SCOs,
	// and marking definitions, which have no modified).
	Created  time.Time
	Modified time.Time
	Revoked  bool
	// Name and Description are kept for search; empty when absent.
	Name        string
	Description string
	// MarkingRefs is object_marking_refs; GranularMarkingRefs holds the
	// marking_ref of each granular marking.
	MarkingRefs         []string
	GranularMarkingRefs []string
	// Level is the strictest TLP level among all marking refs, LevelNone if
	// the object carries no TLP marking.
	Level Level
	Raw   json.RawMessage
}

// Version identifies one version of an object: its modified time, or for
// objects without one, the zero time.
func (o *Object) Version() time.Time { return o.Modified }
