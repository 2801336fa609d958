package node_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/taxii"
	"github.com/ctimesh/ctimesh/trust"
)

type taxiiClient struct {
	base, name, secret string
}

func addTaxiiClient(t *testing.T, n *meshtest.Node, spec taxii.ClientSpec) taxiiClient {
	t.Helper()
	_, secret, err := taxii.AddClient(filepath.Join(n.Dir, taxii.ClientsFileName), spec, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n.TaxiiAddr() == nil {
		t.Fatalf("%s: taxii server not started", n.Spec.Name)
	}
	return taxiiClient{base: "http://" + n.TaxiiAddr().String() + "/ctimesh", name: spec.Name, secret: secret}
}

func (c taxiiClient) do(t *testing.T, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(c.name, c.secret)
	req.Header.Set("Accept", taxii.MediaType)
	if body != nil {
		req.Header.Set("Content-Type", taxii.MediaType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// waitStatus polls until path answers want (clients are picked up within
// seconds, objects arrive by gossip or sync).
func (c taxiiClient) waitStatus(t *testing.T, path string, want int) []byte {
	t.Helper()
	var last int
	var body []byte
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		last, body = c.do(t, http.MethodGet, path, nil)
		if last == want {
			return body
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s GET %s: %d %s, want %d", c.name, path, last, body, want)
	return nil
}

// TestTaxiiAcrossNodes: an object POSTed over TAXII at one node is readable
// over TAXII at another within the TLP rules, and a GREEN-ceiling client
// never learns that an AMBER object exists.
func TestTaxiiAcrossNodes(t *testing.T) {
	m := meshtest.NewWith(t, meshtest.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Taxii.Listen = "127.0.0.1:0"
	}},
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusAccredited, stix.Amber),
	)
	a, b := m.Nodes[0], m.Nodes[1]
	warmUp(t, a, envelope.Feed{Level: stix.Green}, b)
	warmUp(t, a, envelope.Feed{Level: stix.Amber}, b)

	writer := addTaxiiClient(t, a, taxii.ClientSpec{Name: "opencti", MaxTLP: stix.Amber, Write: true})
	green := addTaxiiClient(t, b, taxii.ClientSpec{Name: "misp", MaxTLP: stix.Green})
	amber := addTaxiiClient(t, b, taxii.ClientSpec{Name: "siem", MaxTLP: stix.Amber})
	writer.waitStatus(t, "/collections/", http.StatusOK)
	green.waitStatus(t, "/collections/", http.StatusOK)
	amber.waitStatus(t, "/collections/", http.StatusOK)

	greenID, greenRaw := indicator(t, "taxii green", stix.LevelNone, "")
	amberID, amberRaw := indicator(t, "taxii amber", stix.Amber, "")
	post := func(col string, objs ...[]byte) map[string]any {
		t.Helper()
		body := []byte(`{"objects":[` + string(bytes.Join(objs, []byte(","))) + `]}`)
		code, resp := writer.do(t, http.MethodPost, "/collections/"+col+"/objects/", body)
		if code != http.StatusAccepted {
			t.Fatalf("POST %s: %d %s", col, code, resp)
		}
		var st map[string]any
		if err := json.Unmarshal(resp, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	// Per object: the valid one is published, the invalid one reported.
	st := post("tlp-green", greenRaw, []byte(`{"type":"indicator","id":"indicator--nope"}`))
	if st["success_count"] != 1.0 || st["failure_count"] != 1.0 {
		t.Fatalf("green POST status: %v", st)
	}
	st = post("tlp-amber", amberRaw)
	if st["success_count"] != 1.0 {
		t.Fatalf("amber POST status: %v", st)
	}
	// Posting it again is accepted, not reported as a duplicate.
	st = post("tlp-amber", amberRaw)
	if st["success_count"] != 1.0 {
		t.Fatalf("repeated POST status: %v", st)
	}

	body := green.waitStatus(t, "/collections/tlp-green/objects/"+greenID+"/", http.StatusOK)
	if !strings.Contains(string(body), greenID) {
		t.Fatalf("green object: %s", body)
	}
	amber.waitStatus(t, "/collections/tlp-amber/objects/"+amberID+"/", http.StatusOK)

	// The GREEN client: the AMBER object answers exactly like a missing one.
	missing := strings.Replace(amberID, amberID[len(amberID)-4:], "0000", 1)
	for _, col := range []string{"tlp-green", "tlp-amber"} {
		codeA, bodyA := green.do(t, http.MethodGet, "/collections/"+col+"/objects/"+amberID+"/", nil)
		codeM, bodyM := green.do(t, http.MethodGet, "/collections/"+col+"/objects/"+missing+"/", nil)
		if codeA == http.StatusOK || codeA != codeM ||
			!bytes.Equal(bytes.ReplaceAll(bodyA, []byte(amberID), []byte(missing)), bodyM) {
			t.Errorf("%s: amber object %d %s; missing object %d %s", col, codeA, bodyA, codeM, bodyM)
		}
	}
	for _, path := range []string{"/collections/tlp-green/objects/", "/collections/tlp-green/manifest/", "/collections/"} {
		code, body := green.do(t, http.MethodGet, path, nil)
		if code != http.StatusOK || strings.Contains(string(body), amberID) || strings.Contains(string(body), "tlp-amber") {
			t.Errorf("GREEN client GET %s: %d %s", path, code, body)
		}
	}
}
