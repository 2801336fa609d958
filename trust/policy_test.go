package trust

import (
	"slices"
	"strings"
	"testing"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// cred builds an unsigned credential for policy tests: the pure functions
// assume the caller has verified it.
func cred(team string, status Status, role Role, ceiling stix.Level, groups ...string) *Credential {
	return &Credential{Team: team, Status: status, Role: role, MaxTLP: ceiling, Groups: groups}
}

func TestMayReceiveTable(t *testing.T) {
	const fr = "country:fr"
	feed := func(l stix.Level, g string) envelope.Feed { return envelope.Feed{Level: l, Group: g} }
	cases := []struct {
		name   string
		c      *Credential
		feed   envelope.Feed
		origin string
		allow  bool
		reason string
	}{
		// CLEAR: every credentialed peer, members and observers, any status.
		{"clear listed member", cred("B", StatusListed, RoleMember, stix.Clear), feed(stix.Clear, ""), "A", true, "every credentialed peer"},
		{"clear observer", cred("R", StatusListed, RoleObserver, stix.Clear), feed(stix.Clear, ""), "A", true, "every credentialed peer"},
		{"clear no credential", nil, feed(stix.Clear, ""), "A", false, "no credential"},
		{"clear group member", cred("B", StatusListed, RoleMember, stix.Clear, fr), feed(stix.Clear, fr), "A", true, "in group country:fr"},
		{"clear group outsider", cred("B", StatusListed, RoleMember, stix.Clear), feed(stix.Clear, fr), "A", false, "not in group country:fr"},

		// GREEN: ceiling >= green; with a group, only that group.
		{"green listed", cred("B", StatusListed, RoleMember, stix.Green), feed(stix.Green, ""), "A", true, "ceiling green >= green"},
		{"green observer", cred("R", StatusListed, RoleObserver, stix.Green), feed(stix.Green, ""), "A", true, "ceiling green >= green"},
		{"green ceiling clear", cred("R", StatusCertified, RoleObserver, stix.Clear), feed(stix.Green, ""), "A", false, "ceiling clear < green"},
		{"green higher ceiling", cred("B", StatusListed, RoleMember, stix.Red), feed(stix.Green, ""), "A", true, "ceiling red >= green"},
		{"green group member", cred("B", StatusListed, RoleMember, stix.Green, "a", fr), feed(stix.Green, fr), "A", true, "in group country:fr"},
		{"green group outsider", cred("B", StatusCertified, RoleMember, stix.Amber, "sector:energy"), feed(stix.Green, fr), "A", false, "not in group country:fr"},
		{"green group low ceiling", cred("B", StatusListed, RoleMember, stix.Clear, fr), feed(stix.Green, fr), "A", false, "ceiling clear < green"},

		// AMBER: accredited or certified, ceiling >= amber, in the group if any.
		{"amber listed", cred("B", StatusListed, RoleMember, stix.Amber), feed(stix.Amber, ""), "A", false, "status listed is not accredited"},
		{"amber accredited", cred("B", StatusAccredited, RoleMember, stix.Amber), feed(stix.Amber, ""), "A", true, "status accredited, ceiling amber"},
		{"amber certified", cred("B", StatusCertified, RoleMember, stix.Red), feed(stix.Amber, ""), "A", true, "status certified, ceiling red"},
		{"amber accredited observer", cred("R", StatusAccredited, RoleObserver, stix.Amber), feed(stix.Amber, ""), "A", true, "status accredited"},
		{"amber ceiling green", cred("B", StatusCertified, RoleMember, stix.Green), feed(stix.Amber, ""), "A", false, "ceiling green < amber"},
		{"amber ceiling green listed", cred("B", StatusListed, RoleMember, stix.Green), feed(stix.Amber, ""), "A", false, "ceiling green < amber"},
		{"amber group member", cred("B", StatusAccredited, RoleMember, stix.Amber, fr), feed(stix.Amber, fr), "A", true, "in group country:fr"},
		{"amber group outsider", cred("B", StatusAccredited, RoleMember, stix.Amber), feed(stix.Amber, fr), "A", false, "not in group country:fr"},
		{"amber group listed", cred("B", StatusListed, RoleMember, stix.Amber, fr), feed(stix.Amber, fr), "A", false, "status listed is not accredited"},
		{"amber same team listed", cred("A", StatusListed, RoleMember, stix.Amber), feed(stix.Amber, ""), "A", false, "status listed is not accredited"},

		// AMBER+STRICT: the origin's own team only.
		{"strict same team", cred("A", StatusListed, RoleMember, stix.AmberStrict), feed(stix.AmberStrict, ""), "A", true, "same team A"},
		{"strict other team certified", cred("B", StatusCertified, RoleMember, stix.Red), feed(stix.AmberStrict, ""), "A", false, "team B is not the origin team A"},
		{"strict same team low ceiling", cred("A", StatusCertified, RoleMember, stix.Amber), feed(stix.AmberStrict, ""), "A", false, "ceiling amber < amber+strict"},
		{"strict unknown origin", cred("A", StatusCertified, RoleMember, stix.Red), feed(stix.AmberStrict, ""), "", false, "origin's team"},
		{"strict same team group outsider", cred("A", StatusCertified, RoleMember, stix.Red), feed(stix.AmberStrict, fr), "A", false, "not in group country:fr"},

		// RED: never on a feed.
		{"red certified red ceiling", cred("A", StatusCertified, RoleMember, stix.Red), feed(stix.Red, ""), "A", false, "red is never broadcast"},
		{"red group", cred("A", StatusCertified, RoleMember, stix.Red, fr), feed(stix.Red, fr), "A", false, "red is never broadcast"},

		// Malformed feeds.
		{"no level", cred("A", StatusCertified, RoleMember, stix.Red), feed(stix.LevelNone, ""), "A", false, "invalid feed"},
		{"bad group", cred("A", StatusCertified, RoleMember, stix.Red), feed(stix.Green, "Bad Group"), "A", false, "invalid feed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := MayReceive(tc.c, tc.feed, tc.origin)
			if d.Allowed != tc.allow {
				t.Fatalf("allowed = %v (%s), want %v", d.Allowed, d.Reason, tc.allow)
			}
			if !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("reason %q does not say %q", d.Reason, tc.reason)
			}
		})
	}
}

func TestMayPublishTable(t *testing.T) {
	const fr = "country:fr"
	cases := []struct {
		name   string
		c      *Credential
		feed   envelope.Feed
		allow  bool
		reason string
	}{
		{"member clear", cred("A", StatusListed, RoleMember, stix.Clear), envelope.Feed{Level: stix.Clear}, true, "member"},
		{"observer clear", cred("R", StatusCertified, RoleObserver, stix.Red), envelope.Feed{Level: stix.Clear}, false, "observers never publish"},
		{"observer green", cred("R", StatusCertified, RoleObserver, stix.Red), envelope.Feed{Level: stix.Green}, false, "observers never publish"},
		{"member green", cred("A", StatusListed, RoleMember, stix.Green), envelope.Feed{Level: stix.Green}, true, "member"},
		{"member green low ceiling", cred("A", StatusListed, RoleMember, stix.Clear), envelope.Feed{Level: stix.Green}, false, "ceiling clear < green"},
		{"member green group", cred("A", StatusListed, RoleMember, stix.Green, fr), envelope.Feed{Level: stix.Green, Group: fr}, true, "in group"},
		{"member green other group", cred("A", StatusListed, RoleMember, stix.Green), envelope.Feed{Level: stix.Green, Group: fr}, false, "not in group country:fr"},
		{"listed amber", cred("A", StatusListed, RoleMember, stix.Amber), envelope.Feed{Level: stix.Amber}, false, "status listed is not accredited"},
		{"accredited amber", cred("A", StatusAccredited, RoleMember, stix.Amber), envelope.Feed{Level: stix.Amber}, true, "member"},
		{"strict own team", cred("A", StatusListed, RoleMember, stix.AmberStrict), envelope.Feed{Level: stix.AmberStrict}, true, "same team A"},
		{"strict low ceiling", cred("A", StatusCertified, RoleMember, stix.Amber), envelope.Feed{Level: stix.AmberStrict}, false, "ceiling amber < amber+strict"},
		{"red", cred("A", StatusCertified, RoleMember, stix.Red), envelope.Feed{Level: stix.Red}, false, "red is never broadcast"},
		{"nil", nil, envelope.Feed{Level: stix.Clear}, false, "no credential"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := MayPublish(tc.c, tc.feed)
			if d.Allowed != tc.allow || !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("got %+v, want allowed=%v reason containing %q", d, tc.allow, tc.reason)
			}
		})
	}
}

// TestPolicyExhaustive checks every combination of level, group, status,
// role, ceiling and team against the DESIGN.md table written out directly.
func TestPolicyExhaustive(t *testing.T) {
	statuses := []Status{StatusListed, StatusAccredited, StatusCertified}
	roles := []Role{RoleMember, RoleObserver}
	groupSets := [][]string{nil, {"country:fr"}, {"country:de", "sector:energy"}}
	feedGroups := []string{"", "country:fr", "sector:energy"}
	teams := []string{"A", "B"}
	n := 0
	for _, lvl := range stix.Levels {
		for _, fg := range feedGroups {
			for _, st := range statuses {
				for _, role := range roles {
					for _, ceil := range stix.Levels {
						for _, gs := range groupSets {
							for _, team := range teams {
								c := cred(team, st, role, ceil, gs...)
								f := envelope.Feed{Level: lvl, Group: fg}
								want := lvl != stix.Red && ceil >= lvl &&
									(fg == "" || slices.Contains(gs, fg)) &&
									(lvl != stix.Amber || st == StatusAccredited || st == StatusCertified) &&
									(lvl != stix.AmberStrict || team == "A")
								d := MayReceive(c, f, "A")
								if d.Allowed != want || d.Reason == "" {
									t.Fatalf("MayReceive(%s %s %s ceiling %s groups %v, feed %s, origin A) = %+v, want %v",
										team, st, role, ceil, gs, f, d, want)
								}
								pd := MayPublish(c, f)
								wantPub := role == RoleMember && MayReceive(c, f, team).Allowed
								if pd.Allowed != wantPub || pd.Reason == "" {
									t.Fatalf("MayPublish(%s %s %s ceiling %s, feed %s) = %+v, want %v", team, st, role, ceil, f, pd, wantPub)
								}
								n++
							}
						}
					}
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no cases")
	}
}

func TestAllowedLevels(t *testing.T) {
	cases := []struct {
		c    *Credential
		want []stix.Level
	}{
		{cred("R", StatusListed, RoleObserver, stix.Clear), []stix.Level{stix.Clear}},
		{cred("R", StatusListed, RoleObserver, stix.Green), []stix.Level{stix.Clear, stix.Green}},
		{cred("B", StatusListed, RoleMember, stix.Amber), []stix.Level{stix.Clear, stix.Green}},
		{cred("B", StatusAccredited, RoleMember, stix.Amber), []stix.Level{stix.Clear, stix.Green, stix.Amber}},
		{cred("B", StatusListed, RoleMember, stix.AmberStrict), []stix.Level{stix.Clear, stix.Green, stix.AmberStrict}},
		{cred("B", StatusCertified, RoleMember, stix.Red), []stix.Level{stix.Clear, stix.Green, stix.Amber, stix.AmberStrict}},
		{nil, []stix.Level{}},
	}
	for i, tc := range cases {
		if got := AllowedLevels(tc.c); !slices.Equal(got, tc.want) {
			t.Errorf("case %d: got %v, want %v", i, got, tc.want)
		}
	}
}

func BenchmarkMayReceive(b *testing.B) {
	c := cred("B", StatusAccredited, RoleMember, stix.Amber, "country:fr", "sector:energy")
	f := envelope.Feed{Level: stix.Amber, Group: "country:fr"}
	b.ReportAllocs()
	for b.Loop() {
		if !MayReceive(c, f, "A").Allowed {
			b.Fatal("denied")
		}
	}
}
