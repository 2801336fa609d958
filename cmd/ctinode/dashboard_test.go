package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// findChromium returns a Chromium or Chrome binary, or "".
func findChromium() string {
	if p := os.Getenv("CTIMESH_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestDashboard drives the dashboard in a real headless Chromium against a
// running three-node mesh: log in with the token, see the peers, block one
// and see it disconnected, publish an object elsewhere and see it appear
// live. With CTIMESH_SCREENSHOTS=1 it writes docs/img/*.png.
func TestDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a mesh and a browser")
	}
	chromium := findChromium()
	if chromium == "" {
		t.Skip("no chromium binary found (install Debian's chromium, as .ci/run does, or set CTIMESH_CHROMIUM)")
	}
	m := meshtest.New(t,
		meshtest.Spec{Team: "CERT-EU", Status: trust.StatusCertified, Role: trust.RoleMember, MaxTLP: stix.Amber},
		meshtest.Spec{Team: "CERT-FR", Status: trust.StatusAccredited, Role: trust.RoleMember, MaxTLP: stix.Amber},
		meshtest.Spec{Team: "CERT-XY", Status: trust.StatusListed, Role: trust.RoleMember, MaxTLP: stix.Green},
	)
	a, b, c := m.Nodes[0], m.Nodes[1], m.Nodes[2]
	addr, token, err := adminapi.ReadRuntimeFiles(a.Dir)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr + "/ui/"

	// Some history for the views.
	ctx0, cancel0 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel0()
	for i, lvl := range []string{"clear", "green", "amber", "green"} {
		raw := []byte(stixIndicator(100+i, fmt.Sprintf("Dashboard seed %d: C2 server", i), markingFor(lvl)))
		if _, err := a.Publish(ctx0, raw, node.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1440, 900))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer bcancel()
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	defer cancel()

	shots := os.Getenv("CTIMESH_SCREENSHOTS") == "1"
	shot := func(name string) {
		t.Helper()
		if !shots {
			return
		}
		// Let the last render and fonts settle; only the picture depends
		// on it, never the test's outcome.
		time.Sleep(500 * time.Millisecond)
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		dir := filepath.Join("..", "..", "docs", "img")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	peerRow := func(p *meshtest.Node, extra string) string {
		return fmt.Sprintf(`tr[data-peer="%s"]%s`, p.PeerID(), extra)
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	run("log in",
		chromedp.Navigate(base),
		chromedp.WaitVisible(`#token`),
		chromedp.SendKeys(`#token`, token),
		chromedp.Click(`#login-btn`),
		chromedp.WaitVisible(`#page-overview`),
	)
	run("see the live stream connected", chromedp.WaitVisible(`#live.on`))
	shot("dashboard-overview.png")
	run("see both peers connected and trusted",
		chromedp.Navigate(base+"#/peers"),
		chromedp.WaitVisible(peerRow(b, `[data-state="trusted"][data-connected="true"]`)),
		chromedp.WaitVisible(peerRow(c, `[data-state="trusted"][data-connected="true"]`)),
	)
	run("block a peer and see it disconnected",
		chromedp.Click(peerRow(c, "")),
		chromedp.WaitVisible(fmt.Sprintf(`#peer-detail[data-peer="%s"]`, c.PeerID())),
		chromedp.SendKeys(`#block-reason`, "suspicious traffic"),
		chromedp.Click(`#block-btn`),
		chromedp.WaitVisible(peerRow(c, `[data-state="blocked"][data-connected="false"]`)),
		chromedp.WaitVisible(`#unblock-btn`),
	)
	shot("dashboard-peers.png")

	run("open the objects browser", chromedp.Navigate(base+"#/objects"), chromedp.WaitVisible(`#page-objects`))
	id := fmt.Sprintf("indicator--%08d-0000-4000-8000-%012d", 777, time.Now().UnixNano()%1e12)
	raw := fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"%s","created":"2026-11-01T00:00:00.000Z","modified":"2026-11-01T00:00:00.000Z",`+
		`"name":"Live: phishing domain from CERT-FR","pattern":"[domain-name:value = 'login-example.test']","pattern_type":"stix",`+
		`"valid_from":"2026-11-01T00:00:00Z"%s}`, id, markingFor("amber"))
	// B's AMBER reaches A once gossip has grafted the topic: publish until
	// one arrives, then watch for the last one in the page.
	var seen string
	pctx, pcancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer pcancel()
	err = meshtest.Poll(pctx, func() error {
		if _, err := b.Publish(pctx, []byte(raw), node.PublishOptions{}); err != nil {
			return err
		}
		if p, err := a.Objects(ledger.Query{ID: id}); err == nil && len(p.Records) > 0 {
			seen = id
			return nil
		}
		return fmt.Errorf("not at A yet")
	})
	if err != nil || seen == "" {
		t.Fatalf("object never reached A: %v", err)
	}
	run("see the new object appear live",
		chromedp.WaitVisible(fmt.Sprintf(`tr[data-object-id="%s"]`, id)),
		chromedp.Click(fmt.Sprintf(`tr[data-object-id="%s"]`, id)),
		chromedp.WaitVisible(`#object-detail`),
	)
	shot("dashboard-objects.png")
	run("decisions", chromedp.Navigate(base+"#/decisions"), chromedp.WaitVisible(`#page-decisions tr[data-outcome]`))
	shot("dashboard-decisions.png")
}

func markingFor(level string) string {
	l, _ := stix.ParseLevel(level)
	return fmt.Sprintf(`,"object_marking_refs":["%s"]`, stix.MarkingFor(l))
}
