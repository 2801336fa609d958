package stix

import (
	"slices"
	"testing"

	"github.com/ctimesh/ctimesh/internal/testdata"
)

// medianObjects returns n Enterprise objects around the median size
// (1.2 KB), mixing types as the data does.
func medianObjects(tb testing.TB, n int) [][]byte {
	tb.Helper()
	raws, err := SplitBundle(testdata.Enterprise(tb))
	if err != nil {
		tb.Fatal(err)
	}
	objs := make([][]byte, len(raws))
	for i, r := range raws {
		objs[i] = r
	}
	sorted := slices.Clone(objs)
	slices.SortStableFunc(sorted, func(a, b []byte) int { return len(a) - len(b) })
	mid := len(sorted) / 2
	return sorted[mid-n/2 : mid+n/2]
}

func BenchmarkParse(b *testing.B) {
	objs := medianObjects(b, 256)
	size := 0
	for _, o := range objs {
		size += len(o)
	}
	b.SetBytes(int64(size / len(objs)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Parse(objs[i%len(objs)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAllICS(b *testing.B) {
	data := testdata.ICS(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		objs, err := ParseAll(data)
		if err != nil {
			b.Fatal(err)
		}
		n = len(objs)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
}

func BenchmarkSplitBundleEnterprise(b *testing.B) {
	data := testdata.Enterprise(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SplitBundle(data); err != nil {
			b.Fatal(err)
		}
	}
}
