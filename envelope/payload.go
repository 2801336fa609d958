package envelope

import (
	"encoding/binary"
	"fmt"
)

// An objects or retract payload is a list of byte strings: a uvarint count,
// then each item as a uvarint length and its bytes. Objects are raw STIX JSON
// exactly as published; retract items are STIX ids.

// listOverhead is the worst-case framing of one item (its length varint).
const listOverhead = binary.MaxVarintLen32

// EncodeList frames items. It does not enforce MaxPayload; Batch does.
func EncodeList(items [][]byte) []byte {
	n := binary.MaxVarintLen64
	for _, it := range items {
		n += listOverhead + len(it)
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, uint64(len(items)))
	for _, it := range items {
		b = appendBytes(b, it)
	}
	return b
}

// DecodeList parses EncodeList output strictly. Items alias p.
func DecodeList(p []byte) ([][]byte, error) {
	r := reader{b: p}
	n := r.uvarint()
	if r.err != nil {
		return nil, fmt.Errorf("payload: %w", r.err)
	}
	// Each item needs at least one byte of framing, which bounds n by the input.
	if n > uint64(len(r.b)) {
		return nil, fmt.Errorf("%w: payload claims %d items in %d bytes", ErrMalformed, n, len(r.b))
	}
	items := make([][]byte, 0, n)
	for i := uint64(0); i < n; i++ {
		it := r.bytes(MaxPayload)
		if r.err != nil {
			return nil, fmt.Errorf("payload item %d: %w", i, r.err)
		}
		items = append(items, it)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing payload bytes", ErrMalformed, len(r.b))
	}
	return items, nil
}

// Batch splits items into groups whose EncodeList form fits in limit bytes
// (MaxPayload when limit <= 0), keeping order. An item that cannot fit alone
// is an ErrObjectTooLarge naming its index.
func Batch(items [][]byte, limit int) ([][][]byte, error) {
	if limit <= 0 || limit > MaxPayload {
		limit = MaxPayload
	}
	var out [][][]byte
	var cur [][]byte
	size := binary.MaxVarintLen32 // count prefix, generously
	for i, it := range items {
		need := listOverhead + len(it)
		if binary.MaxVarintLen32+need > limit {
			return nil, fmt.Errorf("%w: item %d is %d bytes, limit %d", ErrObjectTooLarge, i, len(it), limit-2*binary.MaxVarintLen32)
		}
		if size+need > limit {
			out = append(out, cur)
			cur, size = nil, binary.MaxVarintLen32
		}
		cur = append(cur, it)
		size += need
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out, nil
}
