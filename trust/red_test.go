package trust

import (
	"testing"

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
