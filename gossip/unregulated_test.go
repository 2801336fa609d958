package gossip

import (
	"testing"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

func TestUnregulatedTopics(t *testing.T) {
	for _, f := range []envelope.Feed{
		{Level: stix.Green, Unregulated: true},
		{Level: stix.Amber, Unregulated: true},
		{Level: stix.Green, Group: "sector:energy", Unregulated: true},
		{Level: stix.Amber, Group: "country:fr", Unregulated: true},
	} {
		name, err := TopicName(fedA, f, "")
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		info, err := ParseTopic(name)
		if err != nil || info.Feed != f {
			t.Fatalf("%s: topic %s parsed as %+v, %v", f, name, info, err)
		}
		plain := f
		plain.Unregulated = false
		other, _ := TopicName(fedA, plain, "")
		if other == name {
			t.Fatalf("%s shares its topic with %s", f, plain)
		}
	}
	for _, f := range []envelope.Feed{{Level: stix.Clear, Unregulated: true}, {Level: stix.AmberStrict, Unregulated: true}} {
		if _, err := TopicName(fedA, f, "team"); err == nil {
			t.Errorf("%+v has a topic", f)
		}
	}
	if _, err := ParseTopic("/ctimesh/1/" + fedA.String() + "/clear-unregulated"); err == nil {
		t.Error("clear-unregulated parsed")
	}
}
