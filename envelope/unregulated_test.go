package envelope

import (
	"testing"

	"github.com/ctimesh/ctimesh/stix"
)

func TestUnregulatedFeedEncoding(t *testing.T) {
	f := Feed{Level: stix.Amber, Group: "sector:energy", Unregulated: true}
	if got := FeedOfLevelByte(f.LevelByte(), f.Group); got != f {
		t.Fatalf("round trip %+v", got)
	}
	if f.String() != "amber-unregulated/sector:energy" {
		t.Fatalf("String %q", f.String())
	}
	if err := (Feed{Level: stix.Clear, Unregulated: true}).Validate(); err == nil {
		t.Fatal("clear unregulated feed valid")
	}
	if err := (Feed{Level: stix.Red, Unregulated: true}).Validate(); err == nil {
		t.Fatal("red unregulated feed valid")
	}
}
