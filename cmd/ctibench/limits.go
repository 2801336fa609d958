package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ctimesh/ctimesh/internal/testdata"
)

// limits are the machine's hard limits for the work ctimesh does, measured
// in the same run as the scenarios.
type limits struct {
	// DecodeObjectsPerS is encoding/json decoding the bundle into raw
	// objects, the least any STIX reader must do.
	DecodeObjectsPerS float64
	SignPerS          float64 // Ed25519 signatures of 1 KiB
	VerifyPerS        float64 // Ed25519 verifications of 1 KiB
	// BadgerObjectsPerS is raw Badger writes of 1.2 KiB values, 500 per
	// transaction, Sync after each.
	BadgerObjectsPerS float64
}

func (l *limits) addTo(r *Report) {
	r.add("limit_decode_objects_per_s", l.DecodeObjectsPerS)
	r.add("limit_ed25519_sign_per_s", l.SignPerS)
	r.add("limit_ed25519_verify_per_s", l.VerifyPerS)
	r.add("limit_badger_write_objects_per_s", l.BadgerObjectsPerS)
}

func (b *bench) machineLimits() (*limits, error) {
	if b.limits != nil {
		return b.limits, nil
	}
	bundle, err := b.bundle()
	if err != nil {
		return nil, err
	}
	l := &limits{}
	if l.DecodeObjectsPerS, err = decodeRate(bundle); err != nil {
		return nil, err
	}
	l.SignPerS, l.VerifyPerS = ed25519Rates()
	n := 20_000
	if b.o.Bundle == "ics" {
		n = 5_000 // the quick configuration the tests use
	}
	dir, err := b.scenarioDir("limit-badger")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if l.BadgerObjectsPerS, err = badgerRate(dir, n); err != nil {
		return nil, err
	}
	b.limits = l
	return l, nil
}

// bundle is the ATT&CK bundle the scenarios publish. ICS is compacted
// first: MITRE's file is indented, which makes its x-mitre-collection
// object 351,707 bytes, more than an entry carries (256 KiB), and a publish
// is all or nothing. Compacted, the object is 216,533 bytes and fits.
// Enterprise has no collection object and is published as it is.
func (b *bench) bundle() ([]byte, error) {
	if b.o.Bundle != "ics" {
		return testdata.LoadEnterprise()
	}
	if b.ics == nil {
		raw, err := testdata.LoadICS()
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, fmt.Errorf("compact ics bundle: %w", err)
		}
		b.ics = buf.Bytes()
	}
	return b.ics, nil
}

// decodeRate decodes the bundle with encoding/json into raw objects until
// at least half a second has passed, and returns objects per second.
func decodeRate(bundle []byte) (float64, error) {
	var total int
	start := time.Now()
	for time.Since(start) < 500*time.Millisecond {
		var v struct {
			Objects []json.RawMessage `json:"objects"`
		}
		if err := json.Unmarshal(bundle, &v); err != nil {
			return 0, fmt.Errorf("decode bundle: %w", err)
		}
		total += len(v.Objects)
	}
	return float64(total) / time.Since(start).Seconds(), nil
}

// ed25519Rates signs and verifies a 1 KiB message for ~200 ms each, on one
// core.
func ed25519Rates() (sign, verify float64) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	pub := priv.Public().(ed25519.PublicKey)
	msg := make([]byte, 1024)
	var sig []byte
	n, start := 0, time.Now()
	for ; time.Since(start) < 200*time.Millisecond; n++ {
		sig = ed25519.Sign(priv, msg)
	}
	sign = float64(n) / time.Since(start).Seconds()
	n, start = 0, time.Now()
	for ; time.Since(start) < 200*time.Millisecond; n++ {
		if !ed25519.Verify(pub, msg, sig) {
			panic("ed25519 verify failed")
		}
	}
	verify = float64(n) / time.Since(start).Seconds()
	return sign, verify
}

// badgerRate writes n values of 1.2 KiB (a median ATT&CK object) into a
// fresh Badger in dir, 500 per transaction with a Sync after each, with
// the ledger's value threshold, and returns values per second.
func badgerRate(dir string, n int) (float64, error) {
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithValueThreshold(1 << 10))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	val := make([]byte, 1200)
	rand.Read(val)
	key := make([]byte, 16)
	const batch = 500
	start := time.Now()
	for i := 0; i < n; i += batch {
		err := db.Update(func(txn *badger.Txn) error {
			for j := i; j < min(i+batch, n); j++ {
				k := make([]byte, len(key))
				binary.BigEndian.PutUint64(k, uint64(j))
				if err := txn.Set(k, val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		if err := db.Sync(); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machine describes the host: cores and memory.
func machine() string {
	mem := "memory unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			var kb int64
			if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
				mem = fmt.Sprintf("%.1f GiB memory", float64(kb)/(1<<20))
			}
		}
	}
	return fmt.Sprintf("%d cores (GOMAXPROCS %d), %s, %s/%s, %s", runtime.NumCPU(), runtime.GOMAXPROCS(0), mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
