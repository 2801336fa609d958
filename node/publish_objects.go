package node

import (
	"errors"
	"slices"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// ObjectFailure is why one object of a PerObject publish was refused.
type ObjectFailure struct {
	// Index is the object's position in the input.
	Index int
	// ID is the object's id when it has a valid one.
	ID     string
	Reason string
}

// perObject is the bookkeeping of a PerObject publish: which input index
// each parsed object has, which were refused and why, and which were
// placed on a feed. A nil *perObject is the all-or-nothing mode.
type perObject struct {
	input  []int // input index of each parsed object
	failed []ObjectFailure
	placed map[*stix.Object]int
}

// newPerObject takes ParseAll's result: objects that did not parse become
// failures; any other error still refuses the request.
func newPerObject(objs []*stix.Object, err error) (*perObject, error) {
	po := &perObject{placed: map[*stix.Object]int{}}
	var bad map[int]bool
	if err != nil {
		var be *stix.BundleError
		if !errors.As(err, &be) {
			return nil, err
		}
		bad = map[int]bool{}
		for _, f := range be.Failures {
			bad[f.Index] = true
			po.failed = append(po.failed, ObjectFailure{Index: f.Index, ID: f.ID, Reason: f.Error()})
		}
	}
	for i := 0; len(po.input) < len(objs); i++ {
		if !bad[i] {
			po.input = append(po.input, i)
		}
	}
	return po, nil
}

// fail records that parsed object i was refused, and returns err for the
// all-or-nothing mode.
func (po *perObject) fail(i int, err error) error {
	if po != nil {
		po.failed = append(po.failed, ObjectFailure{Index: po.input[i], Reason: err.Error()})
	}
	return err
}

// fits refuses an object too large for one entry of its feed, which would
// otherwise refuse the whole batch.
func (po *perObject) fits(i int, o *stix.Object, sealed bool) bool {
	limit := 0
	if sealed {
		limit = envelope.MaxSealedPlaintext
	}
	if _, err := envelope.Batch([][]byte{o.Raw}, limit); err != nil {
		po.failed = append(po.failed, ObjectFailure{Index: po.input[i], ID: o.ID, Reason: err.Error()})
		return false
	}
	return true
}

func (po *perObject) place(o *stix.Object, i int) {
	if po != nil {
		po.placed[o] = po.input[i]
	}
}

// forbidFeeds drops the feeds the node's own credential may not publish,
// failing their objects.
func (po *perObject) forbidFeeds(byFeed map[envelope.Feed][]*stix.Object, self *trust.Credential) {
	for f, objs := range byFeed {
		if f.Level == stix.Red {
			continue
		}
		d := trust.MayPublish(self, f)
		if d.Allowed {
			continue
		}
		for _, o := range objs {
			po.failed = append(po.failed, ObjectFailure{Index: po.placed[o], ID: o.ID, Reason: "this node may not publish " + f.String() + ": " + d.Reason})
			delete(po.placed, o)
		}
		delete(byFeed, f)
	}
}

// result fills res.Accepted and res.Failed, sorted by input index. An
// object the ledger already held is accepted like any other: publishing
// it again is harmless, and saying otherwise would tell a client that an
// object exists which it may not be allowed to read.
func (po *perObject) result(res PublishResult) PublishResult {
	res.Accepted = res.Accepted[:0]
	for _, i := range po.placed {
		res.Accepted = append(res.Accepted, i)
	}
	slices.Sort(res.Accepted)
	res.Failed = slices.Clone(po.failed)
	slices.SortFunc(res.Failed, func(a, b ObjectFailure) int { return a.Index - b.Index })
	return res
}
