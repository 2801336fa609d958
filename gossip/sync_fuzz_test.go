package gossip

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// FuzzSyncFrames reads a stream of sync frames as a server or client
// would and decodes each by its type. It must never panic or over-read,
// and whatever decodes must re-encode to the same bytes (one message, one
// encoding).
func FuzzSyncFrames(f *testing.F) {
	for _, s := range syncSeeds(f) {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for {
			typ, body, err := readFrame(r, maxFrame)
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrFrame) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(body)+1 > maxFrame {
				t.Fatalf("frame of %d bytes past the limit", len(body)+1)
			}
			var again []byte
			switch typ {
			case frameHeads:
				hs, err := decodeHeads(body)
				if err != nil {
					continue
				}
				for _, h := range hs {
					if h.Max == 0 || h.Contiguous > h.Max || h.Feed.Validate() != nil {
						t.Fatalf("decoded invalid head %+v", h)
					}
				}
				again = encodeHeads(hs)
			case frameGetRange:
				q, err := decodeRangeRequest(body)
				if err != nil {
					continue
				}
				if q.From == 0 || q.From > q.To || q.Limit == 0 || q.Limit > maxRangeLimit {
					t.Fatalf("decoded invalid range %+v", q)
				}
				again = encodeRangeRequest(q)
			case frameKeyRequest:
				q, err := decodeKeyRequest(body)
				if err != nil {
					continue
				}
				again = encodeKeyRequest(q)
			case frameEnd:
				next, err := decodeEnd(body)
				if err != nil {
					continue
				}
				again = encodeEnd(next)
			case frameError:
				e, err := decodeError(body)
				if err != nil {
					continue
				}
				again = encodeError(e.Code, e.Reason)
			case frameKey:
				k, err := decodeKey(body)
				if err != nil {
					continue
				}
				again = k
			default:
				continue
			}
			if !bytes.Equal(again, body) {
				t.Fatalf("type %d: %x re-encodes as %x", typ, body, again)
			}
		}
	})
}

func syncSeeds(tb testing.TB) []seed {
	tb.Helper()
	_, o := testKey(tb, 1)
	_, o2 := testKey(tb, 2)
	group := envelope.Feed{Level: stix.Green, Group: "sector:energy"}
	heads := encodeHeads([]SyncHead{
		{Origin: o, Feed: feedClear, Contiguous: 10, Max: 12, HeadID: envelope.ID{1, 2, 3}},
		{Origin: o2, Feed: group, Contiguous: 1, Max: 1},
	})
	rng := encodeRangeRequest(rangeRequest{Origin: o, Feed: group, From: 3, To: 300, Limit: 1024})
	key := encodeKeyRequest(keyRequest{Origin: o, Feed: feedAmber, Epoch: 7})
	entry := encode(tb, newEntry(tb, entryOpts{}))
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	return []seed{
		{"heads-session", cat(appendFrame(nil, frameHeadsRequest, nil), appendFrame(nil, frameHeads, heads), appendFrame(nil, frameEnd, encodeEnd(0)))},
		{"range-session", cat(appendFrame(nil, frameGetRange, rng), appendFrame(nil, frameEntry, entry), appendFrame(nil, frameEnd, encodeEnd(42)))},
		{"key-session", cat(appendFrame(nil, frameKeyRequest, key), appendFrame(nil, frameKey, []byte("wrapped")))},
		{"error", appendFrame(nil, frameError, encodeError(codeNotEntitled, "not accredited"))},
		{"bad-non-minimal-length", []byte{0x82, 0x00, frameEnd, 0}},
		{"bad-huge-length", []byte{0xff, 0xff, 0xff, 0xff, 0x0f, frameEntry}},
		{"bad-heads-count", appendFrame(nil, frameHeads, []byte{0xff, 0x7f})},
		{"bad-range-zero", appendFrame(nil, frameGetRange, encodeRangeRequest(rangeRequest{Origin: o, Feed: feedClear, From: 0, To: 1, Limit: 1}))},
		{"bad-error-utf8", appendFrame(nil, frameError, []byte{codeInternal, 2, 0xff, 0xfe})},
		{"bad-truncated", appendFrame(nil, frameHeads, heads)[:40]},
	}
}

// TestSyncSeedCorpus keeps the checked-in FuzzSyncFrames seeds what
// syncSeeds generates (rewrite them with -update-seeds) and checks that
// the good- ones decode.
func TestSyncSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzSyncFrames")
	for _, s := range syncSeeds(t) {
		path := filepath.Join(dir, s.name)
		if *updateSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(s.b)))
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := readCorpusFile(path, "[]byte")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, s.b) {
			t.Errorf("%s is stale; run go test ./gossip -run TestSyncSeedCorpus -update-seeds", path)
		}
	}
}

func TestSyncFrameDecoders(t *testing.T) {
	for _, s := range syncSeeds(t) {
		r := bufio.NewReader(bytes.NewReader(s.b))
		var bad error
		for {
			typ, body, err := readFrame(r, maxFrame)
			if err == io.EOF {
				break
			}
			if err != nil {
				bad = err
				break
			}
			switch typ {
			case frameHeads:
				_, err = decodeHeads(body)
			case frameGetRange:
				_, err = decodeRangeRequest(body)
			case frameKeyRequest:
				_, err = decodeKeyRequest(body)
			case frameEnd:
				_, err = decodeEnd(body)
			case frameError:
				_, err = decodeError(body)
			case frameKey:
				_, err = decodeKey(body)
			case frameEntry:
				_, err = envelope.Decode(body)
			}
			if err != nil {
				bad = err
				break
			}
		}
		if isBad := len(s.name) > 4 && s.name[:4] == "bad-"; isBad != (bad != nil) {
			t.Errorf("seed %s: %v", s.name, bad)
		}
	}
}
