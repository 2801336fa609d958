package trust

import (
	"testing"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

func TestMayReceiveRed(t *testing.T) {
	for _, tc := range []struct {
		c    *Credential
		want bool
	}{
		{nil, false},
		{&Credential{Role: RoleMember, Status: StatusAccredited, MaxTLP: stix.Amber}, false},
		{&Credential{Role: RoleMember, Status: StatusAccredited, MaxTLP: stix.AmberStrict}, false},
		{&Credential{Role: RoleMember, Status: StatusListed, MaxTLP: stix.Red}, true},
		{&Credential{Role: RoleObserver, Status: StatusListed, MaxTLP: stix.Red}, true},
	} {
		if d := MayReceiveRed(tc.c); d.Allowed != tc.want || d.Reason == "" {
			t.Errorf("MayReceiveRed(%+v) = %+v, want %v", tc.c, d, tc.want)
		}
	}
	if d := mayPublishRed(&Credential{Role: RoleObserver, MaxTLP: stix.Red}, stix.Red, "ceiling"); d.Allowed {
		t.Error("an observer may publish red")
	}
	// A lowered local ceiling applies.
	if d := mayReceiveRed(&Credential{Role: RoleMember, MaxTLP: stix.Red}, stix.Amber, "local ceiling"); d.Allowed {
		t.Error("red allowed above a local ceiling")
	}
}

func TestUnregulatedFeeds(t *testing.T) {
	feed := envelope.Feed{Level: stix.Green, Unregulated: true}
	member := &Credential{Role: RoleMember, Status: StatusAccredited, MaxTLP: stix.Amber}
	regulated := &Credential{Role: RoleMember, Status: StatusAccredited, MaxTLP: stix.Amber, Regulated: true}
	if d := MayReceive(member, feed, ""); !d.Allowed {
		t.Fatalf("unregulated member refused: %s", d.Reason)
	}
	if d := MayReceive(regulated, feed, ""); d.Allowed {
		t.Fatal("regulated team receives an unregulated feed")
	}
	if d := MayReceive(regulated, envelope.Feed{Level: stix.Green}, ""); !d.Allowed {
		t.Fatalf("regulated team refused plain green: %s", d.Reason)
	}
}
