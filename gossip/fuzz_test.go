package gossip

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the generated seed files under testdata/fuzz")

// FuzzValidate drives the validator's decode path with arbitrary message
// data on the topics a router joins. It must never panic (check is called
// without the validator's recover, so a panic fails the fuzz run), and it
// may accept only entries that decode, verify, belong to our federation and
// carry valid STIX, from a known publisher or, for a credential entry, an
// origin its credential vouches for.
func FuzzValidate(f *testing.F) {
	for _, s := range validateSeeds(f) {
		f.Add(s.b)
	}
	r, _, _, _ := newValidator(f)
	_, publisher := testKey(f, 1) // the only publisher newValidator's policy knows
	f.Fuzz(func(t *testing.T, data []byte) {
		topics := []string{TrustTopic(fedA), topicOf(t, envelope.Feed{Level: stix.Clear})}
		if e, err := envelope.Decode(data); err == nil {
			if name, err := TopicName(fedA, e.Feed, testTeam); err == nil {
				topics = append(topics, name)
			}
		}
		for _, topic := range topics {
			d := Decision{Topic: topic, EntryID: entryID(data)}
			e, objs, v := r.check(&d, data, false)
			if v.outcome != "" {
				if v.reason == "" || (v.outcome != OutcomeReject && v.outcome != OutcomeIgnore) {
					t.Fatalf("verdict %+v", v)
				}
				continue
			}
			if e == nil || e.Verify() != nil || e.Federation != fedA || e.ID() != d.EntryID {
				t.Fatalf("accepted an entry that does not verify: %+v", e)
			}
			if e.Origin != publisher && (e.Kind != envelope.KindCredential || string(e.Payload) != "vouch:"+e.Origin.String()) {
				t.Fatalf("accepted a %s entry of %s, which is no publisher and not vouched for", e.Kind, e.Origin)
			}
			if e.Kind == envelope.KindObjects && e.Epoch == 0 {
				items, err := envelope.DecodeList(e.Payload)
				if err != nil || len(items) != len(objs) {
					t.Fatalf("accepted %d objects of a payload of %d (%v)", len(objs), len(items), err)
				}
				for _, o := range objs {
					if o.Level > e.Feed.Level {
						t.Fatalf("accepted %s object on %s feed", o.Level, e.Feed)
					}
				}
			}
		}
	})
}

type seed struct {
	name string
	b    []byte
}

// validateSeeds: valid entries of each kind and level, and near misses.
func validateSeeds(tb testing.TB) []seed {
	tb.Helper()
	green := envelope.Feed{Level: stix.Green, Group: "country:fr"}
	amber := envelope.Feed{Level: stix.Amber}
	two := envelope.EncodeList([][]byte{stixObject(stix.Clear, 1), stixObject(stix.LevelNone, 2)})
	valid := encode(tb, newEntry(tb, entryOpts{payload: two}))
	badSig := bytes.Clone(valid)
	badSig[len(badSig)-1] ^= 0x80
	_, stranger := testKey(tb, 7)
	_, other := testKey(tb, 8)
	return []seed{
		{"valid-clear-objects", valid},
		{"valid-green-group", encode(tb, newEntry(tb, entryOpts{feed: green}))},
		{"valid-amber-sealed", encode(tb, newEntry(tb, entryOpts{feed: amber, epoch: 2, payload: []byte("sealed")}))},
		{"valid-amber-keys", encode(tb, newEntry(tb, entryOpts{feed: amber, kind: envelope.KindKeys, payload: keyPackage(tb)}))},
		{"valid-retract", encode(tb, newEntry(tb, entryOpts{kind: envelope.KindRetract, payload: envelope.EncodeList([][]byte{[]byte("indicator--00000001-0000-4000-8000-000000000000")})}))},
		{"valid-credential", encode(tb, newEntry(tb, entryOpts{kind: envelope.KindCredential, payload: []byte(`{"credential":1}`)}))},
		// Origin key 7 is no publisher: its credential entry passes only
		// if the credential is its own (the fake policy's "vouch:" form).
		{"valid-relayed-credential", encode(tb, newEntry(tb, entryOpts{key: 7, kind: envelope.KindCredential, payload: []byte("vouch:" + stranger.String())}))},
		{"invalid-relayed-credential-of-another-peer", encode(tb, newEntry(tb, entryOpts{key: 7, kind: envelope.KindCredential, payload: []byte("vouch:" + other.String())}))},
		{"invalid-bad-signature", badSig},
		{"invalid-wrong-federation", encode(tb, newEntry(tb, entryOpts{fed: fedB}))},
		{"invalid-stix", encode(tb, newEntry(tb, entryOpts{payload: envelope.EncodeList([][]byte{[]byte(`{"type":"indicator","id":"x"}`)})}))},
		{"invalid-over-marked", encode(tb, newEntry(tb, entryOpts{payload: envelope.EncodeList([][]byte{stixObject(stix.Red, 1)})}))},
		{"invalid-payload", encode(tb, newEntry(tb, entryOpts{payload: []byte{3, 0}}))},
		{"invalid-truncated", valid[:len(valid)/2]},
		{"invalid-empty", []byte{}},
	}
}

// TestSeedCorpus keeps the checked-in seeds what the code generates
// (rewrite them with go test ./gossip -run TestSeedCorpus -update-seeds)
// and checks that valid- seeds are accepted on their own topic and
// invalid- ones are not.
func TestSeedCorpus(t *testing.T) {
	r, _, _, _ := newValidator(t)
	sets := map[string][]seed{"FuzzValidate": validateSeeds(t)}
	for _, s := range topicSeeds() {
		sets["FuzzParseTopic"] = append(sets["FuzzParseTopic"], seed{name: seedName(s), b: []byte(s)})
	}
	for target, seeds := range sets {
		dir := filepath.Join("testdata", "fuzz", target)
		for _, s := range seeds {
			path := filepath.Join(dir, s.name)
			kind := "[]byte"
			if target == "FuzzParseTopic" {
				kind = "string"
			}
			if *updateSeeds {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				content := fmt.Sprintf("go test fuzz v1\n%s(%s)\n", kind, strconv.Quote(string(s.b)))
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := readCorpusFile(path, kind)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, s.b) {
				t.Errorf("%s is stale; run go test ./gossip -run TestSeedCorpus -update-seeds", path)
			}
		}
	}
	for _, s := range sets["FuzzValidate"] {
		var d Decision
		d.EntryID = entryID(s.b)
		d.Topic = TrustTopic(fedA)
		if e, err := envelope.Decode(s.b); err == nil {
			if name, err := TopicName(fedA, e.Feed, testTeam); err == nil && e.Kind != envelope.KindCredential {
				d.Topic = name
			}
		}
		_, _, v := r.check(&d, s.b, false)
		if strings.HasPrefix(s.name, "valid-") != (v.outcome == "") {
			t.Errorf("seed %s: verdict %+v", s.name, v)
		}
	}
}

func seedName(topic string) string {
	i := strings.LastIndex(topic, "/")
	name := strings.NewReplacer(":", "-", ".", "-").Replace(topic[i+1:])
	if name == "" {
		name = "trailing-slash"
	}
	return "topic-" + name
}

func readCorpusFile(path, kind string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], kind+"(") || !strings.HasSuffix(lines[1], ")") {
		return nil, errors.New(path + ": not a one-argument go test fuzz v1 file")
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], kind+"("), ")"))
	return []byte(s), err
}
