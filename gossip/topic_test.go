package gossip

import (
	"errors"
	"strings"
	"testing"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

func TestTopicNames(t *testing.T) {
	fed := fedA.String()
	tag := TeamTag("CERT-EU")
	if len(tag) != TeamTagLen || tag != TeamTag("CERT-EU") || tag == TeamTag("CERT-FR") {
		t.Fatalf("team tag %q", tag)
	}
	tests := []struct {
		feed envelope.Feed
		team string
		want string
	}{
		{envelope.Feed{Level: stix.Clear}, "", "/ctimesh/1/" + fed + "/clear"},
		{envelope.Feed{Level: stix.Green}, "", "/ctimesh/1/" + fed + "/green"},
		{envelope.Feed{Level: stix.Amber}, "x", "/ctimesh/1/" + fed + "/amber"},
		{envelope.Feed{Level: stix.Green, Group: "country:fr"}, "", "/ctimesh/1/" + fed + "/green/country:fr"},
		{envelope.Feed{Level: stix.Amber, Group: "sector:energy"}, "", "/ctimesh/1/" + fed + "/amber/sector:energy"},
		{envelope.Feed{Level: stix.AmberStrict}, "CERT-EU", "/ctimesh/1/" + fed + "/amber-strict/" + tag},
	}
	for _, tt := range tests {
		got, err := TopicName(fedA, tt.feed, tt.team)
		if err != nil || got != tt.want {
			t.Errorf("TopicName(%s, %q) = %q, %v; want %q", tt.feed, tt.team, got, err, tt.want)
			continue
		}
		info, err := ParseTopic(got)
		if err != nil {
			t.Errorf("ParseTopic(%q): %v", got, err)
			continue
		}
		if info.Federation != fedA || info.Trust || info.Feed != tt.feed || info.Name() != got {
			t.Errorf("ParseTopic(%q) = %+v", got, info)
		}
		if tt.feed.Level == stix.AmberStrict && info.TeamTag != tag {
			t.Errorf("team tag %q, want %q", info.TeamTag, tag)
		}
	}
	trust := TrustTopic(fedA)
	if trust != "/ctimesh/1/"+fed+"/trust" {
		t.Errorf("trust topic %q", trust)
	}
	if info, err := ParseTopic(trust); err != nil || !info.Trust || info.Federation != fedA || info.Name() != trust {
		t.Errorf("ParseTopic(trust) = %+v, %v", info, err)
	}
}

func TestTopicNameRefuses(t *testing.T) {
	tests := []struct {
		feed envelope.Feed
		team string
		want error
	}{
		{envelope.Feed{Level: stix.Red}, "", ErrRed},
		{envelope.Feed{Level: stix.LevelNone}, "", ErrBadTopic},
		{envelope.Feed{Level: 9}, "", ErrBadTopic},
		{envelope.Feed{Level: stix.Clear, Group: "g"}, "", ErrBadTopic},
		{envelope.Feed{Level: stix.AmberStrict}, "", ErrBadTopic},
		{envelope.Feed{Level: stix.AmberStrict, Group: "g"}, "team", ErrBadTopic},
		{envelope.Feed{Level: stix.Green, Group: "Bad/Group"}, "", ErrBadTopic},
	}
	for _, tt := range tests {
		if name, err := TopicName(fedA, tt.feed, tt.team); !errors.Is(err, tt.want) {
			t.Errorf("TopicName(%+v, %q) = %q, %v; want %v", tt.feed, tt.team, name, err, tt.want)
		}
	}
}

func TestParseTopicRefuses(t *testing.T) {
	fed := fedA.String()
	for _, name := range []string{
		"",
		"/ctimesh/1/",
		"/ctimesh/2/" + fed + "/clear",
		"/ctimesh/1/" + fed,
		"/ctimesh/1/" + fed + "/",
		"/ctimesh/1/" + strings.ToUpper(fed) + "/clear",
		"/ctimesh/1/" + fed[:62] + "/clear",
		"/ctimesh/1/" + fed + "/red",
		"/ctimesh/1/" + fed + "/white",
		"/ctimesh/1/" + fed + "/clear/",
		"/ctimesh/1/" + fed + "/clear/group",
		"/ctimesh/1/" + fed + "/green/",
		"/ctimesh/1/" + fed + "/green/a/b",
		"/ctimesh/1/" + fed + "/green/UPPER",
		"/ctimesh/1/" + fed + "/trust/x",
		"/ctimesh/1/" + fed + "/amber-strict",
		"/ctimesh/1/" + fed + "/amber-strict/0123",
		"/ctimesh/1/" + fed + "/amber-strict/0123456789ABCDEF",
		"/ctimesh/1/" + fed + "/amber+strict/0123456789abcdef",
		"ctimesh/1/" + fed + "/clear",
	} {
		if info, err := ParseTopic(name); !errors.Is(err, ErrBadTopic) {
			t.Errorf("ParseTopic(%q) = %+v, %v; want ErrBadTopic", name, info, err)
		}
	}
}

// FuzzParseTopic: ParseTopic never panics and accepts only canonical names,
// which TopicName / TrustTopic reproduce exactly.
func FuzzParseTopic(f *testing.F) {
	for _, s := range topicSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		info, err := ParseTopic(name)
		if err != nil {
			if !errors.Is(err, ErrBadTopic) {
				t.Fatalf("error %v does not wrap ErrBadTopic", err)
			}
			return
		}
		if got := info.Name(); got != name {
			t.Fatalf("ParseTopic(%q).Name() = %q", name, got)
		}
		if info.Trust {
			if TrustTopic(info.Federation) != name {
				t.Fatalf("TrustTopic mismatch for %q", name)
			}
			return
		}
		if info.Feed.Level == stix.Red || info.Feed.Validate() != nil {
			t.Fatalf("ParseTopic(%q) gave feed %+v", name, info.Feed)
		}
		if info.Feed.Level != stix.AmberStrict {
			if got, err := TopicName(info.Federation, info.Feed, ""); err != nil || got != name {
				t.Fatalf("TopicName(ParseTopic(%q)) = %q, %v", name, got, err)
			}
		}
	})
}

func topicSeeds() []string {
	fed := fedA.String()
	return []string{
		"/ctimesh/1/" + fed + "/clear",
		"/ctimesh/1/" + fed + "/green",
		"/ctimesh/1/" + fed + "/amber",
		"/ctimesh/1/" + fed + "/green/country:fr",
		"/ctimesh/1/" + fed + "/amber/sector:energy",
		"/ctimesh/1/" + fed + "/amber-strict/" + TeamTag("CERT-EU"),
		"/ctimesh/1/" + fed + "/trust",
		"/ctimesh/1/" + fed + "/red",
		"/ctimesh/1/" + fed + "/green/",
		"/floodsub/1.0.0",
	}
}

func BenchmarkParseTopic(b *testing.B) {
	name := topicSeeds()[4]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTopic(name); err != nil {
			b.Fatal(err)
		}
	}
}
