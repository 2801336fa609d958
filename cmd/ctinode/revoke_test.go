package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProcessRevocationBites runs four ctinode processes and hands a
// revocation to one node that is neither the publisher nor the revoked
// peer. Every node must disconnect the revoked peer and record the
// revocation in its audit log; the publisher rotates its AMBER epoch key;
// a new AMBER object reaches the remaining accredited nodes but not the
// revoked one, which stays running and keeps trying to reconnect.
func TestProcessRevocationBites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes")
	}
	if ctinodeBin == "" {
		t.Fatal("binary not built")
	}
	root := t.TempDir()
	fedFile, authKey := newFederation(t, root)
	a := newTeamNode(t, root, fedFile, authKey, "A", "accredited", "member", "amber")
	b := newTeamNode(t, root, fedFile, authKey, "B", "accredited", "member", "amber")
	d := newTeamNode(t, root, fedFile, authKey, "D", "certified", "member", "amber")
	v := newTeamNode(t, root, fedFile, authKey, "V", "accredited", "member", "amber")
	nodes := []*testNode{a, b, d, v}
	var addrs []string
	for _, n := range nodes {
		n.proc = startNode(t, n.name, n.dir, addrs...)
		var st status
		if err := ctlJSON(t, &st, "status", "--data", n.dir, "--json"); err != nil {
			t.Fatal(err)
		}
		n.peerID = st.PeerID
		for _, la := range st.ListenAddrs {
			if strings.HasPrefix(la, "/ip4/127.0.0.1/") && strings.HasSuffix(la, "/p2p/"+n.peerID) {
				n.addr = la
			}
		}
		if n.addr == "" {
			t.Fatalf("%s: no loopback address in %v", n.name, st.ListenAddrs)
		}
		addrs = append(addrs, n.addr)
	}
	connected := func(x, y *testNode) (bool, peerItem, error) {
		ps, err := x.peers(t)
		if err != nil {
			return false, peerItem{}, err
		}
		p := ps[y.peerID]
		return p.Connected, p, nil
	}
	poll(t, 60*time.Second, "full mesh", func() error {
		for _, x := range nodes {
			for _, y := range nodes {
				if x == y {
					continue
				}
				if ok, p, err := connected(x, y); err != nil || !ok {
					return fmt.Errorf("%s does not see %s connected (%+v, %v)", x.name, y.name, p, err)
				}
			}
		}
		return nil
	})

	work := filepath.Join(root, "objects")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	// Before: V is accredited and receives AMBER. Sync repairs whatever
	// gossip drops while meshes form, so one publish is enough.
	beforeID, beforeFile := indicator(t, work, "amber-before", markingAmber)
	mustCtl(t, "publish", "--data", a.dir, beforeFile)
	holds := func(n *testNode, id string) (bool, error) {
		objs, err := n.objects(t)
		if err != nil {
			return false, err
		}
		_, ok := objs[id]
		return ok, nil
	}
	poll(t, 90*time.Second, "AMBER before the revocation reaches B, D and V", func() error {
		for _, n := range []*testNode{b, d, v} {
			if ok, err := holds(n, beforeID); err != nil || !ok {
				return fmt.Errorf("%s does not hold %s yet (%v)", n.name, beforeID, err)
			}
		}
		return nil
	})

	// The authority revokes V; the revocation is handed to D only.
	revFile := filepath.Join(root, "V.revoked")
	mustCtl(t, "credential", "revoke", "--authority", authKey, "--federation", fedFile,
		"--credential", v.cred, "--reason", "key compromise", "--out", revFile)
	mustCtl(t, "trust", "revoke", "--data", d.dir, revFile)
	poll(t, 60*time.Second, "revocation reaches every node", func() error {
		for _, n := range []*testNode{a, b, d} {
			ok, p, err := connected(n, v)
			if err != nil {
				return err
			}
			if ok {
				return fmt.Errorf("%s still connected to V", n.name)
			}
			if p.State != "revoked" && !strings.Contains(strings.ToLower(p.Reason), "revoked") {
				return fmt.Errorf("%s's entry for V does not say revoked: %+v", n.name, p)
			}
		}
		return nil
	})
	for _, n := range []*testNode{a, b, d} {
		if got := auditCount(t, n, "revoked", v.peerID); got == 0 {
			t.Errorf("%s's audit log records no revocation of V", n.name)
		}
		if r := ctl(t, "trust", "audit", "--data", n.dir, "--verify"); r.err != nil {
			t.Errorf("%s audit chain: %s", n.name, r)
		}
	}

	// After: a new AMBER object reaches B and D, never V.
	afterName := "amber-after-" + uuid4()
	afterID, afterFile := indicator(t, work, afterName, markingAmber)
	mustCtl(t, "publish", "--data", a.dir, afterFile)
	poll(t, 90*time.Second, "AMBER after the revocation reaches B and D", func() error {
		for _, n := range []*testNode{b, d} {
			if ok, err := holds(n, afterID); err != nil || !ok {
				return fmt.Errorf("%s does not hold %s yet (%v)", n.name, afterID, err)
			}
		}
		return nil
	})
	// The publisher rotated its epoch key when its eligible set shrank:
	// the first epoch, then the one without V.
	if got := auditCount(t, a, "epoch_rotated", ""); got < 2 {
		t.Errorf("A's audit log records %d epoch_rotated records, want the first epoch and a rotation after the revocation", got)
	}
	// V keeps running (and redialing) for a few sync rounds' worth of
	// chances; it must neither hold the object nor be connected.
	time.Sleep(3 * time.Second)
	if ok, err := holds(v, afterID); err != nil {
		t.Fatal(err)
	} else if ok {
		t.Errorf("LEAK: revoked V holds the AMBER object published after its revocation")
	}
	for _, n := range []*testNode{a, b, d} {
		if ok, _, err := connected(n, v); err != nil || ok {
			t.Errorf("%s connected to revoked V again (%v)", n.name, err)
		}
	}
	for _, n := range nodes {
		n.proc.stop(t)
	}
	// Nothing of the object is anywhere in V's data directory.
	if dirHas(t, v.dir, afterName) {
		t.Errorf("LEAK: V's data directory contains the name of the AMBER object published after its revocation")
	}
	if !dirHas(t, b.dir, afterName) {
		t.Errorf("control: B's data directory does not contain the object's name; the scan proves nothing")
	}
}

// dirHas reports whether any file under dir contains s.
func dirHas(t *testing.T, dir, s string) bool {
	t.Helper()
	found := false
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || found {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found = strings.Contains(string(b), s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// auditCount is how many audit records of kind (about peer, if given) n
// holds.
func auditCount(t *testing.T, n *testNode, kind, peer string) int {
	t.Helper()
	args := []string{"trust", "audit", "--data", n.dir, "--kind", kind, "--limit", "1000", "--json"}
	if peer != "" {
		args = append(args, "--peer", peer)
	}
	var r struct {
		Records []struct {
			Kind string `json:"kind"`
		} `json:"records"`
	}
	if err := ctlJSON(t, &r, args...); err != nil {
		t.Fatal(err)
	}
	c := 0
	for _, x := range r.Records {
		if x.Kind == kind {
			c++
		}
	}
	return c
}
