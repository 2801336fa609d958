package stix

import (
	"fmt"
	"strings"
)

// Level is a TLP level. Levels are ordered: a higher value is stricter.
// The zero value, LevelNone, means "no TLP marking".
type Level uint8

// TLP levels, least to most restrictive.
const (
	LevelNone Level = iota
	Clear
	Green
	Amber
	AmberStrict
	Red
)

// Levels lists every real TLP level, least restrictive first.
var Levels = []Level{Clear, Green, Amber, AmberStrict, Red}

var levelNames = [...]string{
	LevelNone:   "none",
	Clear:       "clear",
	Green:       "green",
	Amber:       "amber",
	AmberStrict: "amber+strict",
	Red:         "red",
}

// String returns the lower-case TLP 2.0 name ("clear", "amber+strict", ...).
func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

// Slug is the level's name in URLs and topic names, where "+" is awkward.
func (l Level) Slug() string {
	if l == AmberStrict {
		return "amber-strict"
	}
	return l.String()
}

// Valid reports whether l is one of the five TLP levels.
func (l Level) Valid() bool { return l >= Clear && l <= Red }

// ParseLevel accepts the TLP 2.0 names, the TLP 1.0 name "white", a "tlp:"
// prefix, and "amber-strict"/"amber_strict" for AMBER+STRICT, in any case.
func ParseLevel(s string) (Level, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	n = strings.TrimPrefix(n, "tlp:")
	switch n {
	case "clear", "white":
		return Clear, nil
	case "green":
		return Green, nil
	case "amber":
		return Amber, nil
	case "amber+strict", "amber-strict", "amber_strict":
		return AmberStrict, nil
	case "red":
		return Red, nil
	}
	return LevelNone, fmt.Errorf("%w: %q (want clear, green, amber, amber+strict or red)", ErrUnknownLevel, s)
}

// MarshalText encodes a level by name, so JSON carries "amber", not 3.
func (l Level) MarshalText() ([]byte, error) {
	if l == LevelNone {
		return []byte(""), nil
	}
	if !l.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownLevel, uint8(l))
	}
	return []byte(l.String()), nil
}

// UnmarshalText is the inverse of MarshalText; the empty string is LevelNone.
func (l *Level) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*l = LevelNone
		return nil
	}
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Marking-definition ids of the ten TLP markings seen in the field.
const (
	MarkingTLP1White       = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
	MarkingTLP2Clear       = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
	MarkingTLP1Green       = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
	MarkingTLP2Green       = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
	MarkingTLP1Amber       = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
	MarkingTLP2Amber       = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
	MarkingTLP2AmberStrict = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
	MarkingOpenCTIStrict   = "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"
	MarkingTLP1Red         = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
	MarkingTLP2Red         = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
)

// TLP2ExtensionID is the extension every TLP 2.0 marking definition carries.
const TLP2ExtensionID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

var markingLevels = map[string]Level{
	MarkingTLP1White:       Clear,
	MarkingTLP2Clear:       Clear,
	MarkingTLP1Green:       Green,
	MarkingTLP2Green:       Green,
	MarkingTLP1Amber:       Amber,
	MarkingTLP2Amber:       Amber,
	MarkingTLP2AmberStrict: AmberStrict,
	MarkingOpenCTIStrict:   AmberStrict,
	MarkingTLP1Red:         Red,
	MarkingTLP2Red:         Red,
}

// LevelOfMarking maps a marking-definition id to its TLP level. The second
// result is false for ids that are not one of the ten TLP markings.
func LevelOfMarking(id string) (Level, bool) {
	l, ok := markingLevels[id]
	return l, ok
}

// MarkingFor returns the TLP 2.0 marking-definition id of a level.
func MarkingFor(l Level) string {
	switch l {
	case Clear:
		return MarkingTLP2Clear
	case Green:
		return MarkingTLP2Green
	case Amber:
		return MarkingTLP2Amber
	case AmberStrict:
		return MarkingTLP2AmberStrict
	case Red:
		return MarkingTLP2Red
	}
	return ""
}

// Effective combines the level found in an object's markings with the level a
// publisher asks for: the stricter wins, so a request can raise but never
// lower. With neither, ErrNoLevel.
func Effective(marked, requested Level) (Level, error) {
	l := max(marked, requested)
	if l == LevelNone {
		return LevelNone, ErrNoLevel
	}
	return l, nil
}
