package envelope

import (
	"bytes"
	"testing"
)

var benchSizes = []struct {
	name string
	n    int
}{
	{"1KiB", 1 << 10},
	{"256KiB", MaxPayload},
}

func benchEntry(b *testing.B, payload int) (*Entry, []byte) {
	b.Helper()
	e, key := newEntry(b, 50)
	e.Payload = bytes.Repeat([]byte{'s'}, payload)
	if err := e.Sign(key); err != nil {
		b.Fatal(err)
	}
	enc, err := e.Encode()
	if err != nil {
		b.Fatal(err)
	}
	return e, enc
}

func BenchmarkSign(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			e, _ := benchEntry(b, s.n)
			key, _ := testKey(b, 50)
			b.SetBytes(int64(s.n))
			b.ReportAllocs()
			for b.Loop() {
				if err := e.Sign(key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			e, _ := benchEntry(b, s.n)
			b.SetBytes(int64(s.n))
			b.ReportAllocs()
			for b.Loop() {
				if err := e.Verify(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			_, enc := benchEntry(b, s.n)
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeVerifyID is the receive path of one gossiped entry.
func BenchmarkDecodeVerifyID(b *testing.B) {
	_, enc := benchEntry(b, MaxPayload)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		e, err := Decode(enc)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Verify(); err != nil {
			b.Fatal(err)
		}
		_ = e.ID()
	}
}

// benchItems is one full payload of ~1.2 KB STIX objects.
func benchItems(b *testing.B) [][]byte {
	b.Helper()
	var items [][]byte
	for i := range 1000 {
		items = append(items, bytes.Repeat([]byte{'o'}, 1100+(i*53)%200))
	}
	batches, err := Batch(items, MaxPayload)
	if err != nil {
		b.Fatal(err)
	}
	return batches[0]
}

func BenchmarkEncodeList(b *testing.B) {
	items := benchItems(b)
	b.SetBytes(int64(len(EncodeList(items))))
	b.ReportMetric(float64(len(items)), "items/op")
	b.ReportAllocs()
	for b.Loop() {
		_ = EncodeList(items)
	}
}

func BenchmarkDecodeList(b *testing.B) {
	p := EncodeList(benchItems(b))
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeList(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBatch(b *testing.B) {
	var items [][]byte
	for i := range 4000 {
		items = append(items, bytes.Repeat([]byte{'o'}, 1100+(i*53)%200))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Batch(items, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkID shows that ID hashes the whole encoding on every call: callers
// on a hot path should keep the id rather than ask again.
func BenchmarkID(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			e, enc := benchEntry(b, s.n)
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				_ = e.ID()
			}
		})
	}
}
