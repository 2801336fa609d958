package trust

import (
	"bytes"
	"testing"
)

// FuzzDecodeAuditRecord: the decoder of stored audit records never panics,
// and whatever it accepts is the one encoding of the record it returns.
// Run: go test -fuzz FuzzDecodeAuditRecord -fuzztime 60s ./trust/
func FuzzDecodeAuditRecord(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		rec, hashOK, err := decodeAudit(v)
		if err != nil {
			return
		}
		out, h := encodeAudit(&rec)
		body := v[:len(v)-32]
		if !bytes.Equal(out[:len(out)-32], body) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", body, out[:len(out)-32])
		}
		if hashOK != (h == rec.Hash) {
			t.Fatalf("hash check %v, recomputed %s, stored %s", hashOK, h, rec.Hash)
		}
	})
}
